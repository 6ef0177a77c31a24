package restapi_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/restapi"
)

// downBus is a bus whose backend cannot be reached (Redis down).
type downBus struct{}

func (downBus) Publish(context.Context, *bus.Message) error {
	return errors.New("dial tcp: connection refused")
}
func (downBus) Listen(context.Context, string, string) error { return nil }
func (downBus) Ignore(context.Context, string, string) error { return nil }

// A publish the bus did not take is a 503 with Retry-After, never a
// silent success or a 500, so that customer backends retry.
func TestPublishRefusedByTheBusIs503(t *testing.T) {
	f := newFixture(t, nil, func(o *restapi.Options) {
		o.Publisher = &bus.Publisher{Bus: downBus{}, State: bus.NewMemoryState()}
	})
	for _, r := range []response{
		f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["c"],"data":"x"}`),
		f.do("POST", "/apps/1/batch_events", nil, `{"batch":[{"name":"e","channel":"c","data":"x"}]}`),
		f.do("POST", "/apps/1/users/7/terminate_connections", nil, `{}`),
	} {
		f.expect(r, http.StatusServiceUnavailable, "unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After: %v", r.header)
		}
	}
}
