package restapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// apiError is an HTTP API failure: its status, a stable machine code and a
// message that says which check failed (never a secret).
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int // seconds; set on 429
}

func (e *apiError) Error() string { return e.Message }

func fail(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// Error codes of the JSON error body. They are part of the API: clients
// and dashboards may match on them, so change them only with a note.
const (
	codeBadRequest       = "bad_request"
	codeNotFound         = "not_found"
	codeAppNotFound      = "app_not_found"
	codeAppDisabled      = "app_disabled"
	codeMethodNotAllowed = "method_not_allowed"
	codeTooLarge         = "payload_too_large"
	codeRateLimited      = "rate_limited"
	codeInternal         = "internal"
	codeUnavailable      = "unavailable"
	codeUnauthorized     = "unauthorized"
	codeHistoryDisabled  = "history_disabled"

	codeAuthKeyMissing       = "auth_key_missing"
	codeUnknownAuthKey       = "unknown_auth_key"
	codeAuthVersion          = "auth_version"
	codeAuthTimestamp        = "auth_timestamp"
	codeTimestampExpired     = "timestamp_expired"
	codeBodyMD5Missing       = "body_md5_missing"
	codeBodyMD5Mismatch      = "body_md5_mismatch"
	codeAuthSignatureMissing = "auth_signature_missing"
	codeInvalidSignature     = "invalid_signature"
)

// unavailable answers a publish the bus did not accept (Redis down): 503,
// so that the SDKs' callers retry, rather than a 500 for a bug here. A
// request whose own context ended (the caller went away) is no news about
// the bus and stays an ordinary error.
func (a *API) unavailable(c echo.Context, what string, err error) error {
	if c.Request().Context().Err() != nil {
		return fmt.Errorf("restapi: %s: %w", what, err)
	}
	a.log.Warn(what+" refused: the bus did not accept it", "request_id", requestID(c), "app_id", c.Param("app_id"), "err", err)
	e := fail(http.StatusServiceUnavailable, codeUnavailable, what+" not accepted: the message bus is unavailable; retry")
	e.RetryAfter = 1
	return e
}

func badRequest(msg string) *apiError { return fail(http.StatusBadRequest, codeBadRequest, msg) }

func unauthorized(code, msg string) *apiError { return fail(http.StatusUnauthorized, code, msg) }

func tooLarge(msg string) *apiError { return fail(http.StatusRequestEntityTooLarge, codeTooLarge, msg) }

// handleError is the API's one mapping from an error to a response: the
// status and a JSON body {"error": …, "code": …}. It is an
// echo.HTTPErrorHandler (Handler installs it on its echo) and is also
// called by the API's own middleware, so routes mounted on a shared echo
// answer the same way whatever that echo's handler is. Unknown errors are
// 500s whose detail goes to the log only.
func (a *API) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &he):
		ae = fail(he.Code, codeForStatus(he.Code), http.StatusText(he.Code))
		if m, ok := he.Message.(string); ok && m != "" {
			ae.Message = m
		}
	default:
		level := slog.LevelError
		if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
			level = slog.LevelInfo // the client went away; nothing to act on
		}
		a.log.Log(c.Request().Context(), level, "request failed", "request_id", requestID(c), "method", c.Request().Method,
			"route", c.Path(), "app_id", c.Param("app_id"), "err", err)
		ae = fail(http.StatusInternalServerError, codeInternal, "internal server error")
	}
	if ae.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.Status)
		return
	}
	_ = c.JSON(ae.Status, errorBody{Error: ae.Message, Code: ae.Code})
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return codeBadRequest
	case http.StatusNotFound:
		return codeNotFound
	case http.StatusMethodNotAllowed:
		return codeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return codeTooLarge
	case http.StatusUnauthorized:
		return codeUnauthorized
	case http.StatusTooManyRequests:
		return codeRateLimited
	}
	if status >= 500 {
		return codeInternal
	}
	return "error"
}
