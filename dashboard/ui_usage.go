package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
)

// The usage pages: charts drawn here as SVG (no script, no charting
// library), per app and for the whole tenant, from the Usage reader.

const (
	chartW, chartH     = 640.0, 180.0
	padLeft, padBottom = 48.0, 22.0
	padTop, padRight   = 8.0, 8.0
)

// chart is one bar chart, laid out for the template.
type chart struct {
	ID, Title    string
	Bars         []bar
	Grid         []gridLine
	XLabels      []xLabel
	Total, Peak  int64
	Empty, ByDay bool
	// Summed charts show a total; peaks do not add up over time.
	Summed bool
	// Rows are the figures again, for the table under the chart that
	// screen readers (and anyone who wants the numbers) read.
	Rows []bar
}

type bar struct {
	X, Y, W, H float64
	Label      string // the bucket's time
	Value      int64
}

type gridLine struct {
	Y     float64
	Label string
}

type xLabel struct {
	X     float64
	Label string
}

// series is one figure of a UsageRow.
type series func(UsageRow) int64

func messagesOf(r UsageRow) int64    { return r.Messages }
func connectionsOf(r UsageRow) int64 { return r.PeakConnections }

// buildChart lays rows out in n buckets of step from start, missing
// buckets as zero.
func buildChart(id, title string, rows []UsageRow, start time.Time, step time.Duration, n int, value series, byDay bool) chart {
	vals := make([]int64, n)
	for _, r := range rows {
		i := int(r.Start.Sub(start) / step)
		if i < 0 || i >= n {
			continue
		}
		vals[i] += value(r)
	}
	c := chart{ID: id, Title: title, ByDay: byDay, Summed: strings.HasPrefix(id, "msg-")}
	var max int64
	for _, v := range vals {
		c.Total += v
		max = maxInt(max, v)
	}
	c.Peak = max
	c.Empty = max == 0
	top := niceCeil(max)
	plotW, plotH := chartW-padLeft-padRight, chartH-padTop-padBottom
	slot := plotW / float64(n)
	for i, v := range vals {
		h := float64(v) / float64(top) * plotH
		at := start.Add(time.Duration(i) * step).UTC()
		label := at.Format("Jan 2 15:04")
		if byDay {
			label = at.Format("Mon Jan 2")
		}
		b := bar{X: padLeft + float64(i)*slot + 1, Y: padTop + plotH - h, W: max1(slot - 2), H: h, Label: label, Value: v}
		c.Bars = append(c.Bars, b)
		if v > 0 {
			c.Rows = append(c.Rows, b)
		}
	}
	for k := 0; k <= 4; k++ {
		v := top * int64(k) / 4
		c.Grid = append(c.Grid, gridLine{Y: padTop + plotH - float64(k)/4*plotH, Label: short(v)})
	}
	every := n / 6
	if every < 1 {
		every = 1
	}
	for i := 0; i < n; i += every {
		at := start.Add(time.Duration(i) * step).UTC()
		l := at.Format("15:04")
		if byDay || at.Hour() == 0 {
			l = at.Format("Jan 2")
		}
		c.XLabels = append(c.XLabels, xLabel{X: padLeft + float64(i)*slot + slot/2, Label: l})
	}
	return c
}

func max1(f float64) float64 {
	if f < 1 {
		return 1
	}
	return f
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// niceCeil rounds a chart's top up to 4, 8 or 20 × a power of ten: a
// quarter of it, where the grid lines are, is then a whole number.
func niceCeil(v int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{4, 8, 20} {
			if m*p >= v {
				return m * p
			}
		}
	}
}

// short formats a count compactly: 950, 1.2k, 3.4M.
func short(v int64) string {
	switch {
	case v >= 10_000_000:
		return strconv.FormatInt(v/1_000_000, 10) + "M"
	case v >= 1_000_000:
		return strconv.FormatFloat(float64(v)/1e6, 'f', 1, 64) + "M"
	case v >= 10_000:
		return strconv.FormatInt(v/1000, 10) + "k"
	case v >= 1000:
		return strconv.FormatFloat(float64(v)/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatInt(v, 10)
}

// meter is one figure of the current period against its limit.
type meter struct {
	Label     string
	Used      int64
	Limit     int64 // -1: unlimited
	Percent   int
	Overage   int64
	SoftCap   bool
	Level     string // ok, warn (≥ 80 %), over (≥ 100 %)
	Unlimited bool
}

func newMeter(label string, used, limit int64) meter {
	m := meter{Label: label, Used: used, Limit: limit, Unlimited: limit < 0, Level: "ok"}
	if limit > 0 {
		m.Percent = int(min(used*100/limit, 100))
		switch {
		case used >= limit:
			m.Level = "over"
		case used*100 >= 80*limit:
			m.Level = "warn"
		}
	} else if limit == 0 && used > 0 {
		m.Percent, m.Level = 100, "over"
	}
	return m
}

type periodRow struct {
	AppID, AppName string
	Start, End     time.Time
	Meters         []meter
}

type usagePage struct {
	Available bool
	Problem   string // a read failed: what the page could not show
	App       *tenants.App
	Plan      *tenants.Plan
	Billing   *BillingState
	Period    []periodRow
	Charts    []chart
}

// usageWindows are the charts' spans: 48 hours by hour, 30 days by day.
const (
	hoursShown = 48
	daysShown  = 30
)

func (u *UI) tenantUsage(w http.ResponseWriter, q *uiRequest) {
	d := &usagePage{}
	u.fillUsage(q, d, "")
	u.render(w, q, http.StatusOK, "usage", page{Title: "Usage", Nav: "usage", Data: d})
}

func (u *UI) appUsage(w http.ResponseWriter, q *uiRequest) {
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, q.r.PathValue("app_id"))
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	d := &usagePage{App: app}
	u.fillUsage(q, d, app.ID)
	u.render(w, q, http.StatusOK, "usage", page{Title: "Usage · " + app.Name, Nav: "apps", Tab: "usage", AppID: app.ID, AppName: app.Name, Data: d})
}

// fillUsage reads the charts, the current period and the billing state
// (of one app when appID is set). A failed read is logged and said on
// the page; the rest still shows.
func (u *UI) fillUsage(q *uiRequest, d *usagePage, appID string) {
	if plan, err := u.store.Plan(q.ctx(), q.tenant.PlanID); err == nil {
		d.Plan = plan
	}
	if u.opts.Usage == nil {
		return
	}
	d.Available = true
	ctx, now := q.ctx(), q.now.UTC()
	fail := func(what string, err error) {
		u.log.Error("dashboard usage: "+what, "tenant_id", q.tenant.ID, "app_id", appID, "err", err)
		d.Problem = "Some usage figures could not be read (" + what + "); reload to try again."
	}
	read := func(from, to time.Time, byDay bool) ([]UsageRow, error) {
		if appID != "" {
			return u.opts.Usage.AppUsage(ctx, appID, from, to, byDay)
		}
		return u.opts.Usage.TenantUsage(ctx, q.tenant.ID, from, to, byDay)
	}
	hourStart := now.Truncate(time.Hour).Add(-(hoursShown - 1) * time.Hour)
	dayStart := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(daysShown - 1))
	if rows, err := read(hourStart, now.Truncate(time.Hour).Add(time.Hour), false); err != nil {
		fail("hourly usage", err)
	} else {
		d.Charts = append(d.Charts,
			buildChart("msg-hour", "Messages by hour (last 48 hours)", rows, hourStart, time.Hour, hoursShown, messagesOf, false),
			buildChart("conn-hour", "Peak concurrent connections by hour (last 48 hours)", rows, hourStart, time.Hour, hoursShown, connectionsOf, false))
	}
	if rows, err := read(dayStart, dayStart.AddDate(0, 0, daysShown), true); err != nil {
		fail("daily usage", err)
	} else {
		d.Charts = append(d.Charts,
			buildChart("msg-day", "Messages by day (last 30 days)", rows, dayStart, 24*time.Hour, daysShown, messagesOf, true),
			buildChart("conn-day", "Peak concurrent connections by day (last 30 days)", rows, dayStart, 24*time.Hour, daysShown, connectionsOf, true))
	}
	if period, err := u.opts.Usage.CurrentPeriod(ctx, q.tenant.ID, now); err != nil {
		fail("current period", err)
	} else {
		names := u.appNames(ctx, q.tenant.ID)
		for _, p := range period {
			if appID != "" && p.AppID != appID {
				continue
			}
			msgs := newMeter("Messages today", p.Messages, p.MessageLimit)
			msgs.Overage, msgs.SoftCap = p.Overage, p.SoftCap
			d.Period = append(d.Period, periodRow{AppID: p.AppID, AppName: names[p.AppID], Start: p.PeriodStart, End: p.PeriodEnd,
				Meters: []meter{msgs, newMeter("Peak connections", p.PeakConnections, p.ConnectionLimit)}})
		}
	}
	if b, err := u.opts.Usage.Billing(ctx, q.tenant.ID); err != nil {
		fail("billing state", err)
	} else {
		if appID != "" {
			kept := b.Notifications[:0:0]
			for _, n := range b.Notifications {
				if n.AppID == appID {
					kept = append(kept, n)
				}
			}
			b.Notifications = kept
		}
		d.Billing = &b
	}
}

func (u *UI) appNames(ctx context.Context, tenantID string) map[string]string {
	names := map[string]string{}
	apps, err := u.store.TenantApps(ctx, tenantID)
	if err != nil {
		return names
	}
	for _, a := range apps {
		names[a.ID] = a.Name
	}
	return names
}

// fmtCount writes 1234567 as 1,234,567.
func fmtCount(v int64) string {
	s := strconv.FormatInt(v, 10)
	neg := v < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtMS(f float64) string { return fmt.Sprintf("%.0f ms", f) }
