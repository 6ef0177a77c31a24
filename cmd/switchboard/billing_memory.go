package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/tenants"
)

// memoryUsage answers usage queries without a database, straight from
// the shared counters (memory, or Redis without PostgreSQL): the hours
// they keep (72 h), summed the way billing/pgusage rolls them up, so the
// embedded mode's management API and dashboard show usage too. An app's
// tenant is the one that owns it now.
type memoryUsage struct {
	counters billing.Counters
	store    interface {
		TenantApps(ctx context.Context, tenantID string) ([]*tenants.App, error)
	}
	now func() time.Time // default time.Now
}

// memoryKeep bounds the hours read: the counters keep no older ones.
const memoryKeep = 73 * time.Hour

func (m *memoryUsage) AppUsage(ctx context.Context, appID string, from, to time.Time, g billing.Granularity) ([]billing.Row, error) {
	rows, err := m.usage(ctx, map[string]bool{appID: true}, from, to, g)
	for i := range rows {
		rows[i].AppID = appID
	}
	return rows, err
}

func (m *memoryUsage) TenantUsage(ctx context.Context, tenantID string, from, to time.Time, g billing.Granularity) ([]billing.Row, error) {
	apps, err := m.store.TenantApps(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(apps))
	for _, a := range apps {
		ids[a.ID] = true
	}
	return m.usage(ctx, ids, from, to, g)
}

// usage sums the apps' node totals per hour (peaks added over nodes and
// apps, as the rollup does) and, by day, adds the hours up with the
// day's peak the largest hourly one.
func (m *memoryUsage) usage(ctx context.Context, apps map[string]bool, from, to time.Time, g billing.Granularity) ([]billing.Row, error) {
	if !g.Valid() {
		return nil, fmt.Errorf("usage: granularity %q", g)
	}
	now := time.Now
	if m.now != nil {
		now = m.now
	}
	if g == billing.ByDay {
		from, to = billing.DayOf(from), billing.DayOf(to)
	}
	lo, hi := billing.HourOf(from), to
	if oldest := billing.HourOf(now().Add(-memoryKeep)); lo.Before(oldest) {
		lo = oldest
	}
	if newest := billing.HourOf(now()).Add(time.Hour); hi.After(newest) {
		hi = newest
	}
	buckets := map[time.Time]*billing.Row{}
	for h := lo; h.Before(hi); h = h.Add(time.Hour) {
		nus, err := m.counters.Hour(ctx, h)
		if err != nil {
			return nil, err
		}
		var hour billing.Usage
		for _, nu := range nus {
			if apps[nu.AppID] {
				hour.Add(nu.Usage)
			}
		}
		if hour.IsZero() {
			continue
		}
		start := h
		if g == billing.ByDay {
			start = billing.DayOf(h)
		}
		r := buckets[start]
		if r == nil {
			r = &billing.Row{Start: start}
			buckets[start] = r
		}
		peak := max(r.PeakConnections, hour.PeakConnections)
		r.Usage.Add(hour)
		r.PeakConnections = peak
	}
	out := make([]billing.Row, 0, len(buckets))
	for _, r := range buckets {
		r.Messages = r.Usage.Messages()
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}
