package accounts_test

import (
	"testing"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/accounts/accountstest"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
)

var _ dashboard.Accounts = (*accounts.MemoryStore)(nil)

func TestMemoryStore(t *testing.T) {
	accountstest.Run(t, func(*testing.T) (dashboard.Accounts, tenants.Store) {
		return accounts.NewMemoryStore(), tenants.NewMemoryStore()
	})
}

func TestPassword(t *testing.T) {
	h := accounts.HashPassword("correct horse battery")
	if !accounts.CheckPassword(h, "correct horse battery") {
		t.Fatal("the right password does not match")
	}
	if accounts.CheckPassword(h, "correct horse batterY") {
		t.Fatal("a wrong password matches")
	}
	if h == accounts.HashPassword("correct horse battery") {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2id$", "$2a$10$abc", h[:len(h)-4], "$argon2id$v=19$m=0,t=2,p=1$AAAA$AAAA"} {
		if accounts.CheckPassword(bad, "correct horse battery") {
			t.Errorf("malformed hash %q matches", bad)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	for _, ok := range []string{"a@example.com", "first.last+tag@sub.example.org"} {
		if err := accounts.ValidateEmail(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "a@", "@example.com", "A <a@example.com>", "a@example.com, b@example.com"} {
		if err := accounts.ValidateEmail(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := accounts.NormalizeEmail("  Bob@Example.COM "); got != "bob@example.com" {
		t.Errorf("NormalizeEmail: %q", got)
	}
}
