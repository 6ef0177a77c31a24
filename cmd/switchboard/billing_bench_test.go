package main

import (
	"strconv"
	"testing"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/edge"
)

// BenchmarkFanoutMetering is what metering adds to one fan-out of the
// edge, as wired: Deliver calls edge.Usage.Delivered once with the number
// of sockets written, here the real meterQuotas over billing.Meter with
// 1,000 apps metered. ns/message divides by the 100 deliveries of the
// fan-out; ns/op is the whole per-fan-out cost.
func BenchmarkFanoutMetering(b *testing.B) {
	m := billing.NewMeter()
	for i := range 1000 {
		m.Published("app-"+strconv.Itoa(i), 1)
	}
	var u edge.Usage = meterQuotas{Meter: m, quotas: billing.NewQuotas(m, billing.NewMemoryCounters(), nil, nil, billing.QuotaOptions{})}
	const sockets = 100
	b.ReportAllocs()
	for b.Loop() {
		u.Delivered("app-500", sockets)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/sockets, "ns/message")
}
