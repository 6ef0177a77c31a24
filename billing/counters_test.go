package billing_test

import (
	"testing"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/usagetest"
)

func TestMemoryCounters(t *testing.T) {
	usagetest.Run(t, func(*testing.T) billing.Counters { return billing.NewMemoryCounters() })
}
