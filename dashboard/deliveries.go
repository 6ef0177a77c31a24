package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// WebhookDeliveries reads recorded webhook delivery attempts and the
// health of each endpoint; cmd/switchboard adapts the webhooks attempt log
// to it (per node in memory, or shared on Redis).
type WebhookDeliveries interface {
	WebhookDeliveries(ctx context.Context, appID string, limit int) ([]WebhookDelivery, []WebhookEndpoint, error)
}

// WebhookDelivery is one delivery attempt, newest first in listings.
type WebhookDelivery struct {
	Time    time.Time `json:"time"`
	URL     string    `json:"url"`
	Attempt int       `json:"attempt"` // 1 for the first try
	// Status is the receiver's HTTP status, 0 when none came.
	Status    int      `json:"status"`
	LatencyMS float64  `json:"latency_ms"`
	Error     string   `json:"error,omitempty"`
	Events    []string `json:"events"`
}

// WebhookEndpoint is the health of one webhook URL.
type WebhookEndpoint struct {
	URL                 string `json:"url"`
	Failing             bool   `json:"failing"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	LastError           string `json:"last_error,omitempty"`
}

// maxDeliveries is the most the attempt log keeps per app (cmd/switchboard
// makes it with 100).
const maxDeliveries = 100

func (a *API) webhookDeliveries(q *request) (int, any, error) {
	limit := maxDeliveries
	if s := q.query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDeliveries {
			return 0, nil, badRequest("invalid_query", "limit must be an integer from 1 to "+strconv.Itoa(maxDeliveries))
		}
		limit = n
	}
	// The app must be the caller's: another tenant's answers 404.
	app, err := a.store.TenantApp(q.ctx(), q.tenantID(), q.param("app_id"))
	if err != nil {
		return 0, nil, err
	}
	d, e, err := a.deliveries.WebhookDeliveries(q.ctx(), app.ID, limit)
	if err != nil {
		return 0, nil, err
	}
	if d == nil {
		d = []WebhookDelivery{}
	}
	if e == nil {
		e = []WebhookEndpoint{}
	}
	return http.StatusOK, map[string]any{"deliveries": d, "endpoints": e}, nil
}
