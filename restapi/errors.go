package restapi

import (
	"errors"
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

func badRequest(msg string) *apiError { return fail(http.StatusBadRequest, "bad_request", msg) }

// errorHandler maps every error to its status and a JSON body
// {"error": …, "code": …}, in one place. Unknown errors are 500s whose
// detail goes to the log only.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
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
			log.Error("request failed", "request_id", requestID(c), "path", c.Path(), "err", err)
			ae = fail(http.StatusInternalServerError, "internal", "internal server error")
		}
		if ae.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
		}
		_ = c.JSON(ae.Status, map[string]string{"error": ae.Message, "code": ae.Code})
	}
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case http.StatusUnauthorized:
		return "unauthorized"
	}
	return "error"
}
