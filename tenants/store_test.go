package tenants_test

import (
	"testing"

	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) tenants.Store { return tenants.NewMemoryStore() })
}
