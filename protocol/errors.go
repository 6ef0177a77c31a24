package protocol

import "strconv"

// Error is a Pusher protocol error: the code decides what pusher-js does
// next (see Action), so every code is declared once in this table and never
// retyped by hand elsewhere.
type Error struct {
	// Code is the pusher:error code and, for closing errors, the close code.
	// Zero means "no code": it is sent as JSON null.
	Code    int
	Message string
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return "pusher: " + e.Message
	}
	return "pusher " + strconv.Itoa(e.Code) + ": " + e.Message
}

// WithMessage returns a copy of e with another message and the same code.
func (e *Error) WithMessage(msg string) *Error { return &Error{Code: e.Code, Message: msg} }

// Closes reports whether the error ends the connection: every 4000–4299 code
// does; 43xx codes are reported on an open connection.
func (e *Error) Closes() bool { return e.Code >= 4000 && e.Code < 4300 }

// Connection errors. 4000–4099: pusher-js gives up (no reconnect).
// 4100–4199: reconnect after a back-off. 4200–4299: reconnect at once.
// 4300–4399: reported on an open connection.
var (
	ErrTLSOnly              = &Error{4000, "Application only accepts SSL connections, reconnect using wss://"}
	ErrAppNotFound          = &Error{4001, "Application does not exist"}
	ErrAppDisabled          = &Error{4003, "Application is disabled"}
	ErrOverConnectionQuota  = &Error{4004, "Application is over connection quota"}
	ErrPathNotFound         = &Error{4005, "Path not found"}
	ErrInvalidVersion       = &Error{4006, "Invalid version string format"}
	ErrUnsupportedProtocol  = &Error{4007, "Unsupported protocol version"}
	ErrNoProtocol           = &Error{4008, "No protocol version supplied"}
	ErrUnauthorized         = &Error{4009, "Connection is unauthorized"}
	ErrTerminated           = &Error{4009, "Connection terminated by the application"}
	ErrOverCapacity         = &Error{4100, "Over capacity"}
	ErrSlowConsumer         = &Error{4100, "Connection is too slow to receive its messages"}
	ErrServerClosing        = &Error{4200, "Server closing, please reconnect"}
	ErrPongTimeout          = &Error{4201, "Pong reply not received"}
	ErrInactive             = &Error{4202, "Closed after inactivity"}
	ErrClientEventRateLimit = &Error{4301, "Client event rejected due to rate limit"}
	// ErrClientEventOverQuota: the app's plan caps messages per day and
	// the day's are used up (billing). 4302 is soketi's; 4303 is ours.
	ErrClientEventOverQuota = &Error{4303, "Client event rejected: the app is over its max_messages_per_day quota"}

	// Errors without a code (sent as "code":null); the connection stays open.
	ErrInvalidMessage = &Error{0, "Invalid message format"}
)

// Action is what pusher-js 8 does when a connection closes with a code.
type Action int

const (
	ActionReconnect Action = iota // transport close: reconnect after 1 s
	ActionTLSOnly                 // switch to wss and reconnect
	ActionRefused                 // stop; no reconnect
	ActionBackoff                 // reconnect after a back-off
	ActionRetry                   // reconnect at once
)

// CloseAction mirrors pusher-js's getCloseAction for a close code.
func CloseAction(code int) Action {
	switch {
	case code == 4000:
		return ActionTLSOnly
	case code > 4000 && code < 4100:
		return ActionRefused
	case code >= 4100 && code < 4200:
		return ActionBackoff
	case code >= 4200 && code < 4300:
		return ActionRetry
	case code >= 4300: // pusher-js: any other code from 4300 up is unknown
		return ActionRefused
	case code >= 1002 && code <= 1004:
		return ActionBackoff
	default:
		return ActionReconnect
	}
}
