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
