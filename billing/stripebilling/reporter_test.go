package stripebilling_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/stripebilling"
	"github.com/switchboard-rt/switchboard/internal/stripetest"
)

// usageLog answers TenantUsage with one row per hour and records the
// ranges asked, so the test sees which hours the Reporter sends.
type usageLog struct{ asked [][2]time.Time }

func (u *usageLog) TenantUsage(_ context.Context, _ string, from, to time.Time, _ billing.Granularity) ([]billing.Row, error) {
	u.asked = append(u.asked, [2]time.Time{from, to})
	var rows []billing.Row
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		rows = append(rows, billing.Row{Start: h, Messages: 10})
	}
	return rows, nil
}

func TestReporterSendsEachSettledHourOnce(t *testing.T) {
	ctx := context.Background()
	b, _, _, tn := setup(t, stripetest.Start(t))
	if _, err := b.Subscribe(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 8, 5, 0, 0, time.UTC)
	stripebilling.SetNow(b, func() time.Time { return now })
	u := &usageLog{}
	r := stripebilling.NewReporter(b, u, stripebilling.ReporterOptions{})
	for range 2 {
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// 08:05 with 10 minutes to settle: 07:00 is not settled; 04:00–06:00 are.
	if len(u.asked) != 1 || !u.asked[0][0].Equal(now.Truncate(time.Hour).Add(-4*time.Hour)) || !u.asked[0][1].Equal(now.Truncate(time.Hour).Add(-time.Hour)) {
		t.Fatalf("asked %v", u.asked)
	}
	now = now.Add(10 * time.Minute)
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if len(u.asked) != 2 || !u.asked[1][0].Equal(time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)) || !u.asked[1][1].Equal(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("asked %v", u.asked)
	}
}
