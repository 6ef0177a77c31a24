package restapi

import (
	"errors"
	"net/http"
)

// Usage meters the API's traffic for billing and answers the daily
// message quota (billing.Meter and billing.Quotas, joined in
// cmd/switchboard; restapi does not import billing). The methods must
// not block or do I/O.
type Usage interface {
	// APIRequest counts one authenticated request, whatever its answer.
	APIRequest(appID string)
	// Published counts n events accepted by the bus (one per channel).
	Published(appID string, n int)
	// AllowMessages answers nil when the app may publish n more messages
	// today; otherwise an error that, when it implements QuotaNamer,
	// names the quota for the 403 body.
	AllowMessages(appID string, n int64) error
}

// QuotaNamer is an over-quota error naming its quota, e.g.
// "max_messages_per_day" (billing.QuotaError).
type QuotaNamer interface {
	error
	QuotaName() string
}

type noUsage struct{}

func (noUsage) APIRequest(string)                 {}
func (noUsage) Published(string, int)             {}
func (noUsage) AllowMessages(string, int64) error { return nil }

// codeTenantSuspended answers every request to an app of a suspended
// tenant (billing: unpaid past the grace period).
const codeTenantSuspended = "tenant_suspended"

// allowQuota checks the plan's daily message quota for n published
// events: 403 naming the quota, as Pusher answers (429 stays the
// per-second rate limits').
func (a *API) allowQuota(appID string, n int) error {
	err := a.opts.Usage.AllowMessages(appID, int64(n))
	if err == nil {
		return nil
	}
	code := "over_quota"
	var qn QuotaNamer
	if errors.As(err, &qn) {
		code = qn.QuotaName()
	}
	return fail(http.StatusForbidden, code, err.Error())
}
