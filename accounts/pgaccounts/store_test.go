package pgaccounts_test

import (
	"testing"

	"github.com/switchboard-rt/switchboard/accounts/accountstest"
	"github.com/switchboard-rt/switchboard/accounts/pgaccounts"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore/pgtest"
)

var _ dashboard.Accounts = (*pgaccounts.Store)(nil)

// Each subtest gets its own database (HasUsers sees the whole table).
func TestStore(t *testing.T) {
	accountstest.Run(t, func(t *testing.T) (dashboard.Accounts, tenants.Store) {
		ts, _ := pgtest.Open(t)
		return pgaccounts.New(ts.Pool()), ts
	})
}
