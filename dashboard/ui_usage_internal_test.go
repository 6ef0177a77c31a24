package dashboard

import (
	"testing"
	"time"
)

func TestChartScale(t *testing.T) {
	for v, want := range map[int64]int64{0: 4, 1: 4, 4: 4, 5: 8, 9: 20, 21: 40, 170: 200, 201: 400, 999_999: 2_000_000} {
		if got := niceCeil(v); got != want || got%4 != 0 {
			t.Errorf("niceCeil(%d) = %d, want %d", v, got, want)
		}
	}
	for v, want := range map[int64]string{0: "0", 999: "999", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := fmtCount(v); got != want {
			t.Errorf("fmtCount(%d) = %q, want %q", v, got, want)
		}
	}
}

// Buckets without a row are zero; rows outside the span are left out; the
// tallest bar fills the plot up to the rounded top.
func TestBuildChart(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []UsageRow{
		{Start: start.Add(-time.Hour), Messages: 1000},
		{Start: start, Messages: 20},
		{Start: start.Add(2 * time.Hour), Messages: 10},
	}
	c := buildChart("msg-hour", "m", rows, start, time.Hour, 4, messagesOf, false)
	if len(c.Bars) != 4 || c.Total != 30 || c.Peak != 20 || c.Empty || !c.Summed {
		t.Fatalf("chart: %+v", c)
	}
	if c.Bars[1].Value != 0 || c.Bars[1].H != 0 || len(c.Rows) != 2 {
		t.Fatalf("empty bucket: %+v, rows %d", c.Bars[1], len(c.Rows))
	}
	if plot := chartH - padTop - padBottom; c.Bars[0].H != plot || c.Bars[2].H != plot/2 {
		t.Fatalf("heights %v %v of %v", c.Bars[0].H, c.Bars[2].H, plot)
	}
	if c.Grid[4].Label != "20" {
		t.Fatalf("top grid line %q", c.Grid[4].Label)
	}
}
