// Package accountstest is the conformance suite for dashboard.Accounts:
// accounts.MemoryStore and accounts/pgaccounts must pass it unchanged, so
// the embedded default and production behave alike.
//
// It imports accounts, tenants and dashboard (for the interface).
package accountstest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
)

// Open returns the store under test and the tenants store its users'
// tenants are created in (the same database for PostgreSQL, whose users
// reference tenants). It is called once per subtest.
type Open func(t *testing.T) (dashboard.Accounts, tenants.Store)

// Run runs the suite.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s dashboard.Accounts, ts tenants.Store)
	}{
		{"FirstOwner", testFirstOwner},
		{"ConcurrentFirstOwner", testConcurrentFirstOwner},
		{"Users", testUsers},
		{"TenantScope", testTenantScope},
		{"Sessions", testSessions},
		{"RemoveUserEndsSessions", testRemoveUserEndsSessions},
		{"SetPassword", testSetPassword},
		{"Invalid", testInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ts := open(t)
			tc.run(t, s, ts)
		})
	}
}

// hash is computed once: argon2id is slow on purpose, and the stores only
// keep the string.
var hash = sync.OnceValue(func() string { return accounts.HashPassword("correct horse battery") })

func user(tenantID, email string, role accounts.Role) *accounts.User {
	return &accounts.User{ID: accounts.NewUserID(), TenantID: tenantID, Email: email, Role: role, PasswordHash: hash()}
}

func tenant(t *testing.T, ts tenants.Store, name string) string {
	t.Helper()
	tn, err := ts.CreateTenant(t.Context(), name, tenants.FreePlanID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

func testFirstOwner(t *testing.T, s dashboard.Accounts, _ tenants.Store) {
	ctx := t.Context()
	if has, err := s.HasUsers(ctx); err != nil || has {
		t.Fatalf("HasUsers on an empty store: %v %v", has, err)
	}
	first := user(tenants.DefaultTenantID, "owner@example.com", accounts.RoleOwner)
	if err := s.CreateFirstOwner(ctx, first); err != nil {
		t.Fatal(err)
	}
	if has, err := s.HasUsers(ctx); err != nil || !has {
		t.Fatalf("HasUsers after the first owner: %v %v", has, err)
	}
	second := user(tenants.DefaultTenantID, "second@example.com", accounts.RoleOwner)
	if err := s.CreateFirstOwner(ctx, second); !errors.Is(err, accounts.ErrConflict) {
		t.Fatalf("second CreateFirstOwner: %v, want ErrConflict", err)
	}
	if _, err := s.UserByEmail(ctx, "second@example.com"); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("the refused first owner was kept: %v", err)
	}
	got, err := s.UserByEmail(ctx, "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != first.ID || got.TenantID != tenants.DefaultTenantID || got.Role != accounts.RoleOwner || got.PasswordHash != first.PasswordHash || got.CreatedAt.IsZero() {
		t.Fatalf("first owner read back as %+v", got)
	}
}

func testConcurrentFirstOwner(t *testing.T, s dashboard.Accounts, _ tenants.Store) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := user(tenants.DefaultTenantID, "owner"+string(rune('a'+i))+"@example.com", accounts.RoleOwner)
			errs <- s.CreateFirstOwner(context.Background(), u)
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, accounts.ErrConflict):
			t.Fatalf("CreateFirstOwner: %v", err)
		}
	}
	us, err := s.TenantUsers(t.Context(), tenants.DefaultTenantID)
	if err != nil {
		t.Fatal(err)
	}
	if won != 1 || len(us) != 1 {
		t.Fatalf("%d first owners won, %d users kept; want exactly 1", won, len(us))
	}
}

func testUsers(t *testing.T, s dashboard.Accounts, ts tenants.Store) {
	ctx := t.Context()
	tn := tenant(t, ts, "Acme")
	a := user(tn, "a@example.com", accounts.RoleOwner)
	a.CreatedAt = time.Now().Add(-time.Hour)
	b := user(tn, "b@example.com", accounts.RoleViewer)
	for _, u := range []*accounts.User{a, b} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// An email is one account, in whatever tenant.
	dup := user(tenants.DefaultTenantID, "a@example.com", accounts.RoleViewer)
	if err := s.CreateUser(ctx, dup); !errors.Is(err, accounts.ErrConflict) {
		t.Fatalf("duplicate email: %v, want ErrConflict", err)
	}
	us, err := s.TenantUsers(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0].ID != a.ID || us[1].ID != b.ID {
		t.Fatalf("TenantUsers: %+v, want a then b", us)
	}
	if err := s.SetUserRole(ctx, tn, b.ID, accounts.RoleDeveloper); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByEmail(ctx, "b@example.com"); got == nil || got.Role != accounts.RoleDeveloper {
		t.Fatalf("role after SetUserRole: %+v", got)
	}
	if err := s.SetUserRole(ctx, tn, b.ID, "admin"); !errors.Is(err, accounts.ErrInvalid) {
		t.Fatalf("unknown role: %v, want ErrInvalid", err)
	}
	if err := s.RemoveUser(ctx, tn, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByEmail(ctx, "b@example.com"); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("removed user: %v", err)
	}
	if err := s.RemoveUser(ctx, tn, b.ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	// The email is free again.
	if err := s.CreateUser(ctx, user(tn, "b@example.com", accounts.RoleViewer)); err != nil {
		t.Fatal(err)
	}
}

// A user of another tenant is ErrNotFound, exactly as an unknown one.
func testTenantScope(t *testing.T, s dashboard.Accounts, ts tenants.Store) {
	ctx := t.Context()
	ta, tb := tenant(t, ts, "A"), tenant(t, ts, "B")
	ua := user(ta, "a@example.com", accounts.RoleOwner)
	if err := s.CreateUser(ctx, ua); err != nil {
		t.Fatal(err)
	}
	if us, err := s.TenantUsers(ctx, tb); err != nil || len(us) != 0 {
		t.Fatalf("tenant B's users: %v %v", us, err)
	}
	if err := s.SetUserRole(ctx, tb, ua.ID, accounts.RoleViewer); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("SetUserRole across tenants: %v", err)
	}
	if err := s.RemoveUser(ctx, tb, ua.ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("RemoveUser across tenants: %v", err)
	}
	if got, err := s.UserByEmail(ctx, "a@example.com"); err != nil || got.Role != accounts.RoleOwner {
		t.Fatalf("tenant A's user changed: %+v %v", got, err)
	}
}

func testSessions(t *testing.T, s dashboard.Accounts, ts tenants.Store) {
	ctx := t.Context()
	u := user(tenant(t, ts, "Acme"), "a@example.com", accounts.RoleDeveloper)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	id, h := accounts.NewSessionID()
	ss := &accounts.Session{IDHash: h, UserID: u.ID, CSRF: accounts.NewCSRFToken(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, ss); err != nil {
		t.Fatal(err)
	}
	got, gu, err := s.Session(ctx, accounts.HashSessionID(id), now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.IDHash, h) || got.UserID != u.ID || got.CSRF != ss.CSRF || !got.ExpiresAt.Equal(ss.ExpiresAt) || gu.ID != u.ID || gu.Role != accounts.RoleDeveloper {
		t.Fatalf("session read back as %+v, %+v", got, gu)
	}
	if _, _, err := s.Session(ctx, accounts.HashSessionID("nope"), now); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	// Expiry is exclusive: at ExpiresAt the session is gone.
	if _, _, err := s.Session(ctx, h, ss.ExpiresAt); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if _, _, err := s.Session(ctx, h, ss.ExpiresAt.Add(-time.Millisecond)); err != nil {
		t.Fatalf("session just before expiry: %v", err)
	}
	_, h2 := accounts.NewSessionID()
	if err := s.CreateSession(ctx, &accounts.Session{IDHash: h2, UserID: u.ID, CSRF: "x", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredSessions(ctx, now.Add(2*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions: %d %v, want 1", n, err)
	}
	if _, _, err := s.Session(ctx, h, now); err != nil {
		t.Fatalf("live session dropped with the expired one: %v", err)
	}
	if err := s.DeleteSession(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, h, now); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
	if err := s.DeleteSession(ctx, h); err != nil {
		t.Fatalf("second DeleteSession: %v", err)
	}
	if err := s.CreateSession(ctx, &accounts.Session{IDHash: h2, UserID: "usr_nobody", CSRF: "x", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("session of an unknown user: %v", err)
	}
}

func testRemoveUserEndsSessions(t *testing.T, s dashboard.Accounts, ts tenants.Store) {
	ctx := t.Context()
	tn := tenant(t, ts, "Acme")
	u := user(tn, "a@example.com", accounts.RoleViewer)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, h := accounts.NewSessionID()
	if err := s.CreateSession(ctx, &accounts.Session{IDHash: h, UserID: u.ID, CSRF: "x", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveUser(ctx, tn, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, h, now); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("session of a removed user: %v", err)
	}
}

func testInvalid(t *testing.T, s dashboard.Accounts, ts tenants.Store) {
	ctx := t.Context()
	tn := tenant(t, ts, "Acme")
	for name, u := range map[string]*accounts.User{
		"bad email":    user(tn, "not an email", accounts.RoleOwner),
		"display name": user(tn, "Bob <bob@example.com>", accounts.RoleOwner),
		"bad role":     user(tn, "a@example.com", "admin"),
		"plain hash":   {ID: accounts.NewUserID(), TenantID: tn, Email: "a@example.com", Role: accounts.RoleOwner, PasswordHash: "hunter2"},
	} {
		if err := s.CreateUser(ctx, u); !errors.Is(err, accounts.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if has, _ := s.HasUsers(ctx); has {
		t.Fatal("an invalid user was kept")
	}
}

func testSetPassword(t *testing.T, s dashboard.Accounts, ts tenants.Store) {
	ctx := t.Context()
	tn := tenant(t, ts, "Acme")
	u, other := user(tn, "a@example.com", accounts.RoleOwner), user(tn, "b@example.com", accounts.RoleOwner)
	for _, x := range []*accounts.User{u, other} {
		if err := s.CreateUser(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	session := func(userID string) []byte {
		_, h := accounts.NewSessionID()
		if err := s.CreateSession(ctx, &accounts.Session{IDHash: h, UserID: userID, CSRF: "x", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	keep, drop, others := session(u.ID), session(u.ID), session(other.ID)
	newHash := accounts.HashPassword("another long password")
	if err := s.SetPassword(ctx, u.ID, newHash, keep); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByEmail(ctx, u.Email); got.PasswordHash != newHash {
		t.Fatal("hash not replaced")
	}
	for name, c := range map[string]struct {
		h    []byte
		live bool
	}{"kept": {keep, true}, "other of the user": {drop, false}, "another user's": {others, true}} {
		if _, _, err := s.Session(ctx, c.h, now); (err == nil) != c.live {
			t.Errorf("%s session after SetPassword: %v, want live=%v", name, err, c.live)
		}
	}
	if err := s.SetPassword(ctx, u.ID, newHash, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, keep, now); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("SetPassword with keep nil left a session: %v", err)
	}
	if err := s.SetPassword(ctx, "usr_nobody", newHash, nil); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if err := s.SetPassword(ctx, u.ID, "plain", nil); !errors.Is(err, accounts.ErrInvalid) {
		t.Errorf("plain hash: %v", err)
	}
}
