package dashboard

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"time"
)

// BillingContacts sets where a tenant's quota warnings are POSTed
// (signed JSON); cmd/switchboard wires it with Usage.
type BillingContacts interface {
	// SetBillingContact stores url ("" removes it) and returns the new
	// signing secret, shown this once.
	SetBillingContact(ctx context.Context, tenantID, url string) (secret string, err error)
	BillingContact(ctx context.Context, tenantID string) (url string, err error)
}

// Usage ranges: the widest a request may ask for.
const (
	maxHourlySpan = 31 * 24 * time.Hour
	maxDailySpan  = 366 * 24 * time.Hour
)

// usageQuery is the range of a usage request: ?from=&to= (RFC 3339 or
// YYYY-MM-DD; default the last 24 hours by hour, the last 30 days by
// day), ?granularity=hour|day (default hour) and ?format=json|csv.
type usageQuery struct {
	from, to time.Time
	byDay    bool
	csv      bool
}

func parseTime(name, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, badRequest("invalid_query", name+" must be an RFC 3339 time or a date (YYYY-MM-DD), got "+strconv.Quote(truncate(s, 64)))
}

func parseUsageQuery(q *request, now time.Time) (usageQuery, error) {
	var u usageQuery
	switch g := q.query("granularity"); g {
	case "", "hour":
	case "day":
		u.byDay = true
	default:
		return u, badRequest("invalid_query", "granularity must be hour or day, got "+strconv.Quote(truncate(g, 64)))
	}
	switch f := q.query("format"); f {
	case "", "json":
	case "csv":
		u.csv = true
	default:
		return u, badRequest("invalid_query", "format must be json or csv, got "+strconv.Quote(truncate(f, 64)))
	}
	u.to = now.UTC().Truncate(time.Hour).Add(time.Hour)
	if u.byDay {
		y, m, d := now.UTC().Date()
		u.to = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
	if s := q.query("to"); s != "" {
		t, err := parseTime("to", s)
		if err != nil {
			return u, err
		}
		u.to = t
	}
	span, limit := 24*time.Hour, maxHourlySpan
	if u.byDay {
		span, limit = 30*24*time.Hour, maxDailySpan
	}
	u.from = u.to.Add(-span)
	if s := q.query("from"); s != "" {
		t, err := parseTime("from", s)
		if err != nil {
			return u, err
		}
		u.from = t
	}
	switch {
	case !u.from.Before(u.to):
		return u, badRequest("invalid_query", "from must be before to")
	case u.to.Sub(u.from) > limit:
		return u, badRequest("invalid_query", "the range is wider than "+strconv.Itoa(int(limit.Hours()/24))+" days for this granularity")
	}
	return u, nil
}

func (u usageQuery) granularity() string {
	if u.byDay {
		return "day"
	}
	return "hour"
}

// usageAnswer is the JSON of the usage routes.
type usageAnswer struct {
	AppID       string     `json:"app_id,omitempty"`
	From        time.Time  `json:"from"`
	To          time.Time  `json:"to"`
	Granularity string     `json:"granularity"`
	Usage       []UsageRow `json:"usage"`
}

// rawCSV is written as is, as text/csv.
type rawCSV []byte

func usageCSV(rows []UsageRow) rawCSV {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"start", "app_id", "messages", "published", "delivered", "api_requests",
		"webhook_calls", "connection_minutes", "peak_connections"})
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, r := range rows {
		_ = w.Write([]string{r.Start.UTC().Format(time.RFC3339), r.AppID, i(r.Messages), i(r.Published), i(r.Delivered),
			i(r.APIRequests), i(r.WebhookCalls), i(r.ConnectionMinutes), i(r.PeakConnections)})
	}
	w.Flush()
	return b.Bytes()
}

// appUsage is GET /api/v1/apps/{app_id}/usage.
func (a *API) appUsage(q *request) (int, any, error) {
	u, err := parseUsageQuery(q, time.Now())
	if err != nil {
		return 0, nil, err
	}
	// The app must be the caller's: another tenant's answers 404.
	app, err := a.store.TenantApp(q.ctx(), q.tenantID(), q.param("app_id"))
	if err != nil {
		return 0, nil, err
	}
	rows, err := a.usage.AppUsage(q.ctx(), app.ID, u.from, u.to, u.byDay)
	if err != nil {
		return 0, nil, err
	}
	if rows == nil {
		rows = []UsageRow{}
	}
	if u.csv {
		return http.StatusOK, usageCSV(rows), nil
	}
	return http.StatusOK, usageAnswer{AppID: app.ID, From: u.from, To: u.to, Granularity: u.granularity(), Usage: rows}, nil
}

// tenantUsage is GET /api/v1/usage: the tenant's apps summed or, as CSV,
// one line per app and hour or day (the export).
func (a *API) tenantUsage(q *request) (int, any, error) {
	u, err := parseUsageQuery(q, time.Now())
	if err != nil {
		return 0, nil, err
	}
	if u.csv {
		apps, err := a.store.TenantApps(q.ctx(), q.tenantID())
		if err != nil {
			return 0, nil, err
		}
		var all []UsageRow
		for _, app := range apps {
			rows, err := a.usage.AppUsage(q.ctx(), app.ID, u.from, u.to, u.byDay)
			if err != nil {
				return 0, nil, err
			}
			for i := range rows {
				rows[i].AppID = app.ID
			}
			all = append(all, rows...)
		}
		return http.StatusOK, usageCSV(all), nil
	}
	rows, err := a.usage.TenantUsage(q.ctx(), q.tenantID(), u.from, u.to, u.byDay)
	if err != nil {
		return 0, nil, err
	}
	if rows == nil {
		rows = []UsageRow{}
	}
	return http.StatusOK, usageAnswer{From: u.from, To: u.to, Granularity: u.granularity(), Usage: rows}, nil
}

// currentUsage is GET /api/v1/usage/current.
func (a *API) currentUsage(q *request) (int, any, error) {
	p, err := a.usage.CurrentPeriod(q.ctx(), q.tenantID(), time.Now())
	if err != nil {
		return 0, nil, err
	}
	if p == nil {
		p = []PeriodUsage{}
	}
	return http.StatusOK, map[string]any{"apps": p}, nil
}

// getBilling is GET /api/v1/billing.
func (a *API) getBilling(q *request) (int, any, error) {
	st, err := a.usage.Billing(q.ctx(), q.tenantID())
	if err != nil {
		return 0, nil, err
	}
	if st.Notifications == nil {
		st.Notifications = []UsageNotification{}
	}
	if a.contacts != nil && st.ContactURL == "" {
		if st.ContactURL, err = a.contacts.BillingContact(q.ctx(), q.tenantID()); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, st, nil
}

// putBillingContact is PUT /api/v1/billing/contact {"url": "..."}.
func (a *API) putBillingContact(q *request) (int, any, error) {
	var body struct {
		URL *string `json:"url"`
	}
	if err := a.decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.URL == nil {
		return 0, nil, badRequest("invalid_field", `"url" is required ("" removes the contact)`)
	}
	secret, err := a.contacts.SetBillingContact(q.ctx(), q.tenantID(), *body.URL)
	if err != nil {
		return 0, nil, err
	}
	if *body.URL == "" {
		return http.StatusOK, map[string]string{"url": ""}, nil
	}
	return http.StatusOK, map[string]string{"url": *body.URL, "secret": secret}, nil
}
