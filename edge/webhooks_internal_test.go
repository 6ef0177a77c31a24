package edge

import (
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

type countingHooks struct{ n int }

func (h *countingHooks) Notify(*tenants.App, protocol.WebhookEvent) { h.n++ }

// The check on the socket paths must not allocate, with webhooks off or
// for an app that does not want the event.
func TestWantsWebhookAllocatesNothing(t *testing.T) {
	app := tenants.NewApp("a", "k", "s")
	app.Webhooks = []tenants.Webhook{{URL: "https://example.com", EventTypes: []string{protocol.WebhookMemberAdded}}}
	off := New(Options{})
	h := &countingHooks{}
	on := New(Options{Webhooks: h})
	allocs := testing.AllocsPerRun(100, func() {
		off.channelWebhook(app, protocol.WebhookChannelOccupied, "c")
		on.channelWebhook(app, protocol.WebhookChannelOccupied, "c")
	})
	if allocs != 0 || h.n != 0 {
		t.Fatalf("%v allocations, %d notifications", allocs, h.n)
	}
	on.memberWebhook(app, protocol.WebhookMemberAdded, "presence-c", "u")
	if h.n != 1 {
		t.Fatalf("wanted event not notified")
	}
}
