package edge_test

import (
	"context"
	"testing"

	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/tenants"
)

func TestRevalidateClosesDisabledAndRevoked(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, edge.Options{})
	store := n.store
	tn, err := store.CreateTenant(ctx, "t", tenants.DefaultPlanID, "test")
	if err != nil {
		t.Fatal(err)
	}
	a, k1, err := store.CreateApp(ctx, tn.ID, &tenants.App{Name: "a", Enabled: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := store.CreateKey(ctx, tn.ID, a.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	b, kb, err := store.CreateApp(ctx, tn.ID, &tenants.App{Name: "b", Enabled: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	old, neu, other, untouched := n.dialKey(k1.Key), n.dialKey(k2.Key), n.dialKey(kb.Key), n.dial()

	// Revoking the old key cuts its sockets only.
	if err := store.RevokeKey(ctx, tn.ID, a.ID, k1.Key, "test"); err != nil {
		t.Fatal(err)
	}
	n.srv.Revalidate(ctx, tenants.Change{AppIDs: []string{a.ID}})
	old.expectClose(4001)

	// Disabling app b cuts its sockets; a change for b leaves a alone.
	off, _ := store.AppSettings(ctx, tn.ID, b.ID)
	off.Enabled = false
	if _, err := store.UpdateApp(ctx, tn.ID, off, "test"); err != nil {
		t.Fatal(err)
	}
	n.srv.Revalidate(ctx, tenants.Change{AppIDs: []string{b.ID}})
	other.expectClose(4003)

	// Suspending the tenant reaches every app of it, and only those.
	if err := store.SetTenantStatus(ctx, tn.ID, tenants.TenantSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	n.srv.Revalidate(ctx, tenants.Change{All: true})
	neu.expectClose(4003)
	untouched.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	untouched.expect("pusher:pong", "")
}
