package restapi_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants"
)

type discard struct{}

func (discard) Deliver(*bus.Message) {}

// BenchmarkPublishHandler is one signed POST /events in, its message
// handed to the bus: the API's whole cost per publish.
func BenchmarkPublishHandler(b *testing.B) {
	store := tenants.NewMemoryStore()
	_ = store.PutApp(context.Background(), tenants.NewApp(appID, key, secret))
	mb, state := bus.NewMemory(), bus.NewMemoryState()
	mb.Attach(discard{})
	h := restapi.New(restapi.Options{Apps: tenants.NewDirectory(store, 0), Publisher: &bus.Publisher{Bus: mb, State: state}, State: state}).Handler()
	body := `{"name":"tick","channels":["prices"],"data":"{\"price\":101.25,\"symbol\":\"ACME\",\"ts\":1732406400123}"}`
	q := url.Values{}
	protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, []byte(body), time.Now().Unix())
	target := "/apps/1/events?" + q.Encode()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
