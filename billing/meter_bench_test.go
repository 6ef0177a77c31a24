package billing_test

import (
	"testing"

	"github.com/switchboard-rt/switchboard/billing"
)

// BenchmarkMeterDelivered is the cost the fan-out path pays per publish.
func BenchmarkMeterDelivered(b *testing.B) {
	m := billing.NewMeter()
	for i := range 1000 {
		m.Published("app-"+string(rune('a'+i%26))+string(rune('a'+i/26)), 1)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Delivered("app-kb", 1)
	}
}

func BenchmarkMeterDeliveredParallel(b *testing.B) {
	m := billing.NewMeter()
	m.Published("app", 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Delivered("app", 1)
		}
	})
}

// BenchmarkAppMeterDelivered is the cost when the caller keeps the
// app's AppMeter (as the edge's per-app state can).
func BenchmarkAppMeterDelivered(b *testing.B) {
	a := billing.NewMeter().App("app")
	b.ReportAllocs()
	for b.Loop() {
		a.Delivered(1)
	}
}
