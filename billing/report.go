package billing

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// Granularity of a usage query.
type Granularity string

const (
	ByHour Granularity = "hour"
	ByDay  Granularity = "day"
)

// Valid reports whether g is a known granularity.
func (g Granularity) Valid() bool { return g == ByHour || g == ByDay }

// Row is usage over one hour or day, of one app or (AppID "") of a whole
// tenant.
type Row struct {
	AppID string    `json:"app_id,omitempty"`
	Start time.Time `json:"start"`
	Usage
	Messages int64 `json:"messages"`
}

// WriteCSV writes rows with a header line: the export of the management
// API, the same figures as the JSON and as billed.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"start", "app_id", "messages", "published", "delivered", "api_requests",
		"webhook_calls", "connection_minutes", "peak_connections"})
	i := strconv.FormatInt
	for _, r := range rows {
		_ = cw.Write([]string{r.Start.UTC().Format(time.RFC3339), r.AppID, i(r.Usage.Messages(), 10),
			i(r.Published, 10), i(r.Delivered, 10), i(r.APIRequests, 10), i(r.WebhookCalls, 10),
			i(r.ConnectionSeconds/60, 10), i(r.PeakConnections, 10)})
	}
	cw.Flush()
	return cw.Error()
}

// PeriodUsage is one app's usage in the current plan period (the UTC
// day) against the plan's limit.
type PeriodUsage struct {
	AppID string    `json:"app_id"`
	Start time.Time `json:"period_start"`
	End   time.Time `json:"period_end"`
	Usage
	Messages int64 `json:"messages"`
	// Limit is the plan's MaxMessagesPerDay (-1: unlimited).
	Limit int64 `json:"limit"`
	// Overage is the messages past Limit, billed on soft-cap plans.
	Overage int64 `json:"overage"`
	SoftCap bool  `json:"soft_cap"`
}

// NewPeriodUsage fills the period's figures from a day's row.
func NewPeriodUsage(r Row, limit int64, softCap bool) PeriodUsage {
	p := PeriodUsage{AppID: r.AppID, Start: r.Start, End: r.Start.Add(24 * time.Hour), Usage: r.Usage,
		Messages: r.Usage.Messages(), Limit: limit, SoftCap: softCap}
	if limit >= 0 && p.Messages > limit {
		p.Overage = p.Messages - limit
	}
	return p
}
