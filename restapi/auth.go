package restapi

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// authed is an authenticated request, as the handlers see it. authenticate
// passes it as an argument: echo's c.Set would allocate a map per request.
type authed struct {
	app *tenants.App
	// query is the signed query: keys lower-cased, one value each.
	// Handlers read parameters only from it, so what they act on is what
	// was signed.
	query query
	body  []byte // after gunzip
}

// query is a request's query: names lower-cased, one value each, in the
// order sent. A handful of parameters live in the request's own struct,
// so reading them costs no map.
type query struct {
	params []protocol.Param
	inline [10]protocol.Param
}

// Get returns the value of name, or "".
func (q *query) Get(name string) string {
	for _, p := range q.params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func (q *query) has(name string) bool {
	for _, p := range q.params {
		if p.Name == name {
			return true
		}
	}
	return false
}

// authedHandler serves a request authenticate has let through.
type authedHandler func(c echo.Context, auth *authed) error

// authenticate checks a request the way the Pusher server SDKs sign it,
// in the order of the protocol doc's table (§5.1), which decides the
// status: unknown app 404; malformed query 400; every auth_* and body_md5
// problem 401; body over the cap 413; disabled app 403 (only after the
// signature holds, so the answer tells a stranger nothing).
func (a *API) authenticate(next authedHandler) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		appID, ok := pathParam(c, "app_id")
		if !ok {
			return fail(http.StatusNotFound, codeAppNotFound, "unknown app id: the path is not validly escaped")
		}
		app, err := a.opts.Apps.AppByID(r.Context(), appID)
		if errors.Is(err, tenants.ErrNotFound) {
			return fail(http.StatusNotFound, codeAppNotFound, fmt.Sprintf("unknown app id %q", truncate(appID, 64)))
		}
		if err != nil {
			return fmt.Errorf("restapi: find app: %w", err)
		}
		auth := &authed{app: app}
		q := &auth.query
		if err := parseQuery(r.URL.RawQuery, q); err != nil {
			return err
		}
		secret, err := a.checkAuthParams(app, q)
		if err != nil {
			return err
		}
		raw, err := a.readBody(r)
		if err != nil {
			return err
		}
		gzipped := len(raw) > 0 && isGzip(r)
		body, err := a.checkBodyMD5(q, raw, gzipped)
		if err != nil {
			return err
		}
		if err := checkSignature(r, q, secret); err != nil {
			return err
		}
		if a.opts.KeyUsed != nil {
			a.opts.KeyUsed(q.Get("auth_key"))
		}
		a.opts.Usage.APIRequest(app.ID)
		if app.Suspended {
			return fail(http.StatusForbidden, codeTenantSuspended, "app "+app.ID+" belongs to a suspended tenant: its account is unpaid past the grace period")
		}
		if !app.Enabled {
			return fail(http.StatusForbidden, codeAppDisabled, "app "+app.ID+" is disabled")
		}
		if body == nil && gzipped {
			// Decompress only once the sender is known to hold the secret.
			if body, err = a.gunzip(raw); err != nil {
				return err
			}
		} else if body == nil {
			body = raw
		}
		auth.body = body
		return next(c, auth)
	}
}

// pathParam returns a path parameter decoded exactly once. echo routes on
// URL.RawPath when it is set (the path has escapes that URL.Path cannot
// round-trip) and then hands out escaped values; otherwise the value comes
// from the already-decoded URL.Path and must not be decoded again.
func pathParam(c echo.Context, name string) (string, bool) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, true
	}
	u, err := url.PathUnescape(v)
	return u, err == nil
}

// parseQuery parses the query as the SDKs build it: pairs split on "&",
// percent- and plus-decoded, keys lower-cased because the string to sign
// lower-cases them. A name given twice (in any case) is refused: the
// string to sign keeps one value per name, so a second one could smuggle
// an unsigned parameter past the signature. Unlike url.ParseQuery it keeps
// ";" as a literal, as Pusher's servers do.
func parseQuery(raw string, q *query) error {
	q.params = q.inline[:0]
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return badRequest(fmt.Sprintf("malformed query string: bad escape in parameter name %q", truncate(k, 64)))
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return badRequest(fmt.Sprintf("malformed query string: bad escape in the value of %q", truncate(key, 64)))
		}
		key = strings.ToLower(key)
		if q.has(key) {
			return badRequest(fmt.Sprintf("query parameter %q is given more than once (names are case-insensitive)", truncate(key, 64)))
		}
		q.params = append(q.params, protocol.Param{Name: key, Value: val})
	}
	return nil
}

// checkAuthParams checks auth_key, auth_version and auth_timestamp and
// returns the secret of the key used.
func (a *API) checkAuthParams(app *tenants.App, q *query) (string, error) {
	key := q.Get("auth_key")
	if key == "" {
		return "", unauthorized(codeAuthKeyMissing, "auth_key is missing")
	}
	secret, ok := app.SecretFor(key)
	if !ok {
		return "", unauthorized(codeUnknownAuthKey, "Unknown auth_key: it is not an active key of app "+app.ID)
	}
	if q.has("auth_version") && q.Get("auth_version") != "1.0" {
		return "", unauthorized(codeAuthVersion, "auth_version must be 1.0")
	}
	ts, err := strconv.ParseInt(q.Get("auth_timestamp"), 10, 64)
	if err != nil {
		return "", unauthorized(codeAuthTimestamp, "auth_timestamp is missing or not an integer (Unix seconds)")
	}
	now := a.opts.Now().Unix()
	window := int64(a.opts.TimestampWindow.Seconds())
	if ts < now-window || ts > now+window {
		return "", unauthorized(codeTimestampExpired, fmt.Sprintf(
			"Timestamp expired: Given timestamp (%d) not within %ds of server time (%d)", ts, window, now))
	}
	return secret, nil
}

// readBody returns the body as sent, refusing anything over MaxBodyBytes
// before reading it whole.
func (a *API) readBody(r *http.Request) ([]byte, error) {
	limit := a.opts.MaxBodyBytes
	switch {
	case r.ContentLength > limit:
		return nil, bodyTooLarge(limit)
	case r.ContentLength == 0 || r.Body == nil:
		return nil, nil
	case r.ContentLength > 0:
		// net/http delivers exactly Content-Length bytes: one exact read.
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, badRequest("could not read the request body: it is shorter than its Content-Length")
		}
		return buf, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, 1024))
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
		return nil, badRequest("could not read the request body")
	}
	if int64(buf.Len()) > limit {
		return nil, bodyTooLarge(limit)
	}
	return buf.Bytes(), nil
}

func bodyTooLarge(limit int64) error {
	return tooLarge("request body is larger than " + strconv.FormatInt(limit, 10) + " bytes")
}

func isGzip(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip")
}

// gunzip decompresses a gzip body under the same cap.
func (a *API) gunzip(raw []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, badRequest("Content-Encoding is gzip but the body is not gzip data")
	}
	body, err := io.ReadAll(io.LimitReader(zr, a.opts.MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("Content-Encoding is gzip but the body is not valid gzip data")
	}
	if int64(len(body)) > a.opts.MaxBodyBytes {
		return nil, tooLarge("decompressed request body is larger than " + strconv.FormatInt(a.opts.MaxBodyBytes, 10) + " bytes")
	}
	return body, nil
}

// checkBodyMD5 checks body_md5 against the body as sent. A gzip body whose
// sender hashed the JSON inside instead is accepted too (the signature
// binds either hash equally); then the decompressed body is returned,
// otherwise nil.
func (a *API) checkBodyMD5(q *query, raw []byte, gzipped bool) ([]byte, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	got := q.Get("body_md5")
	if got == "" {
		return nil, unauthorized(codeBodyMD5Missing, "body_md5 is missing: it is required for requests with a body")
	}
	if protocol.ValidBodyMD5(raw, got) {
		return nil, nil
	}
	if gzipped {
		body, err := a.gunzip(raw)
		if err == nil && protocol.ValidBodyMD5(body, got) {
			return body, nil
		}
	}
	return nil, unauthorized(codeBodyMD5Mismatch, "Invalid body_md5: it does not match the MD5 of the request body as sent")
}

// checkSignature checks auth_signature over the method, the path and the
// sorted query. The SDKs sign the path as they send it; for names with
// reserved characters (#server-to-user- channels) some sign it decoded,
// so both forms are tried.
func checkSignature(r *http.Request, q *query, secret string) error {
	sig := q.Get("auth_signature")
	if sig == "" {
		return unauthorized(codeAuthSignatureMissing, "auth_signature is missing")
	}
	escaped := r.URL.EscapedPath()
	if protocol.ValidParamsSignature(secret, r.Method, escaped, q.params, sig) {
		return nil
	}
	if r.URL.Path != escaped && protocol.ValidParamsSignature(secret, r.Method, r.URL.Path, q.params, sig) {
		return nil
	}
	return unauthorized(codeInvalidSignature, fmt.Sprintf(
		"Invalid signature: you should have sent HmacSHA256Hex(%q, your_secret_key), but you sent %q",
		protocol.AppendParamsStringToSign(nil, r.Method, escaped, q.params), truncate(sig, 64)))
}

// truncate shortens client-supplied text quoted back in error messages.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
