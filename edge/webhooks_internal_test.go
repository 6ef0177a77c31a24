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

// A subscription taken back after its add sends nothing when its add and
// removal were the channel's transitions, and sends the one side that was
// its alone when another socket came or went in between.
func TestLeftUndoing(t *testing.T) {
	cases := []struct {
		name              string
		undo              joined
		vacated, gone     bool
		occ, vac, add, rm bool
	}{
		{"ordinary leave, not last", joined{}, false, false, false, false, false, false},
		{"ordinary leave, last socket", joined{}, true, true, false, true, false, true},
		{"failed first subscriber, alone", joined{occupied: true, member: true}, true, true, false, false, false, false},
		{"failed first subscriber, another joined meanwhile", joined{occupied: true, member: true}, false, false, true, false, true, false},
		{"failed later subscriber, the others left meanwhile", joined{}, true, true, false, true, false, true},
	}
	for _, c := range cases {
		occ, vac, add, rm := leftUndoing(c.undo, c.vacated, c.gone)
		if occ != c.occ || vac != c.vac || add != c.add || rm != c.rm {
			t.Errorf("%s: occupied %v vacated %v added %v removed %v", c.name, occ, vac, add, rm)
		}
	}
}
