package restapi

import (
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// Context keys set by authenticate.
const (
	ctxApp  = "switchboard.app"
	ctxBody = "switchboard.body"
)

// authenticate finds the app, reads the body under the size cap and checks
// the request signature the way the Pusher server SDKs make it. The order
// of checks decides the status: unknown app 404; any signature problem
// 401; disabled app 403.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		appID := c.Param("app_id")
		app, err := a.opts.Apps.AppByID(r.Context(), appID)
		if errors.Is(err, tenants.ErrNotFound) {
			return fail(http.StatusNotFound, "app_not_found", fmt.Sprintf("unknown app id %q", truncate(appID, 64)))
		}
		if err != nil {
			return fmt.Errorf("restapi: find app: %w", err)
		}
		raw, body, err := a.readBody(r)
		if err != nil {
			return err
		}
		if err := a.checkSignature(r, app, raw, body); err != nil {
			return err
		}
		if !app.Enabled {
			return fail(http.StatusForbidden, "app_disabled", "app "+app.ID+" is disabled")
		}
		c.Set(ctxApp, app)
		c.Set(ctxBody, body)
		return next(c)
	}
}

// readBody returns the body as sent and as decoded (gunzipped), refusing
// anything over MaxBodyBytes before reading it whole.
func (a *API) readBody(r *http.Request) (raw, body []byte, err error) {
	limit := a.opts.MaxBodyBytes
	tooLarge := fail(http.StatusRequestEntityTooLarge, "payload_too_large",
		"request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
	if r.ContentLength > limit {
		return nil, nil, tooLarge
	}
	raw, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, nil, badRequest("could not read the request body")
	}
	if int64(len(raw)) > limit {
		return nil, nil, tooLarge
	}
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") || len(raw) == 0 {
		return raw, raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, badRequest("Content-Encoding is gzip but the body is not gzip data")
	}
	body, err = io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, nil, badRequest("Content-Encoding is gzip but the body is not valid gzip data")
	}
	if int64(len(body)) > limit {
		return nil, nil, tooLarge
	}
	return raw, body, nil
}

func unauthorized(code, msg string) *apiError { return fail(http.StatusUnauthorized, code, msg) }

func (a *API) checkSignature(r *http.Request, app *tenants.App, raw, body []byte) error {
	q := r.URL.Query()
	key := q.Get("auth_key")
	if key == "" {
		return unauthorized("auth_key_missing", "auth_key is missing")
	}
	secret, ok := app.SecretFor(key)
	if !ok {
		return unauthorized("unknown_auth_key", "unknown auth_key: it is not an active key of app "+app.ID)
	}
	if v := q.Get("auth_version"); v != "" && v != "1.0" {
		return unauthorized("auth_version", "auth_version must be 1.0")
	}
	ts, err := strconv.ParseInt(q.Get("auth_timestamp"), 10, 64)
	if err != nil {
		return unauthorized("auth_timestamp", "auth_timestamp is missing or not an integer (Unix seconds)")
	}
	now := a.opts.Now().Unix()
	window := int64(a.opts.TimestampWindow.Seconds())
	if ts < now-window || ts > now+window {
		return unauthorized("timestamp_expired", fmt.Sprintf(
			"Timestamp expired: Given timestamp (%d) not within %ds of server time (%d)", ts, window, now))
	}
	if len(raw) > 0 {
		got := q.Get("body_md5")
		if got == "" {
			return unauthorized("body_md5_missing", "body_md5 is missing: it is required for requests with a body")
		}
		// The SDKs hash the bytes they send; for a gzipped body accept the
		// hash of the JSON inside too.
		if !equalFoldConst(got, protocol.BodyMD5(raw)) && !equalFoldConst(got, protocol.BodyMD5(body)) {
			return unauthorized("body_md5_mismatch", "body_md5 does not match the MD5 of the request body")
		}
	}
	sig := q.Get("auth_signature")
	if sig == "" {
		return unauthorized("auth_signature_missing", "auth_signature is missing")
	}
	for _, path := range candidatePaths(r) {
		if protocol.ValidSignature(secret, []byte(protocol.RequestStringToSign(r.Method, path, q)), sig) {
			return nil
		}
	}
	return unauthorized("invalid_signature", fmt.Sprintf(
		"Invalid signature: you should have sent HmacSHA256Hex(%q, your_secret_key), but you sent %q",
		protocol.RequestStringToSign(r.Method, r.URL.Path, q), truncate(sig, 64)))
}

// candidatePaths are the forms of the path a client may have signed: as
// sent (escaped) and decoded; they differ only for names with reserved
// characters, such as #server-to-user- channels.
func candidatePaths(r *http.Request) []string {
	escaped := r.URL.EscapedPath()
	if escaped == r.URL.Path {
		return []string{escaped}
	}
	return []string{escaped, r.URL.Path}
}

func equalFoldConst(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(a)), []byte(b)) == 1
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
