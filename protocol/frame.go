package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ClientFrame is one frame received from a client: an event name, an
// optional channel and the data as the raw JSON value it arrived as.
type ClientFrame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// ErrFrame is returned for a frame that is not a JSON object with a string
// event.
var ErrFrame = errors.New("protocol: invalid message format")

// DecodeClientFrame parses a client frame. It fails unless the frame is a
// UTF-8 JSON object with a non-empty string "event".
//
// Invalid UTF-8 is refused, not repaired: encoding/json accepts it inside
// strings, and client-event data is forwarded verbatim in text frames, which
// browsers must fail (RFC 6455 §8.1) — one bad frame would drop every other
// subscriber of the channel.
func DecodeClientFrame(b []byte) (ClientFrame, error) {
	var f ClientFrame
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !utf8.Valid(b) {
		return f, ErrFrame
	}
	if !scanClientFrame(b, &f) {
		f = ClientFrame{}
		if err := json.Unmarshal(b, &f); err != nil {
			return ClientFrame{}, ErrFrame
		}
	}
	if f.Event == "" {
		return ClientFrame{}, ErrFrame
	}
	return f, nil
}

// objectData returns the JSON object behind data, unwrapping the string form
// ("{\"channel\":…}") that some older clients send for control events.
func objectData(data json.RawMessage) ([]byte, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, ErrFrame
		}
		data = []byte(s)
	}
	if len(data) == 0 || data[0] != '{' {
		return nil, ErrFrame
	}
	return data, nil
}

// SubscribeData is the data of pusher:subscribe.
type SubscribeData struct {
	Channel     string `json:"channel"`
	Auth        string `json:"auth"`
	ChannelData string `json:"channel_data"`
	// Position is Switchboard's extension: a subscriber that sends it
	// (an empty object at first) receives every sequenced event with its
	// position ("seq", "epoch"); Pusher's clients never send it and get
	// Pusher's frames unchanged.
	Position *Position `json:"position,omitempty"`
}

// Position is an event's place in its channel: its sequence number in
// the channel's epoch.
type Position struct {
	Epoch string `json:"epoch,omitempty"`
	Seq   uint64 `json:"seq,omitempty"`
}

// DecodeSubscribe parses the data of pusher:subscribe or
// pusher:unsubscribe.
func DecodeSubscribe(data json.RawMessage) (SubscribeData, error) {
	var d SubscribeData
	if obj, err := objectData(data); err == nil && scanStrings(obj, subscribeKeys, &d.Channel, &d.Auth, &d.ChannelData) {
		return d, nil
	}
	return decodeData[SubscribeData](data)
}

// SigninData is the data of pusher:signin.
type SigninData struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

// DecodeSignin parses the data of pusher:signin.
func DecodeSignin(data json.RawMessage) (SigninData, error) {
	var d SigninData
	if obj, err := objectData(data); err == nil && scanStrings(obj, signinKeys, &d.Auth, &d.UserData) {
		return d, nil
	}
	return decodeData[SigninData](data)
}

// decodeData parses a control event's data object into T.
func decodeData[T any](data json.RawMessage) (T, error) {
	var d T
	obj, err := objectData(data)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(obj, &d); err != nil {
		var zero T
		return zero, ErrFrame
	}
	return d, nil
}

// Member is one presence channel member as the app's auth endpoint signed
// it: a user id (always a string on the wire) and optional user info.
type Member struct {
	UserID   string
	UserInfo json.RawMessage // raw JSON value, or nil
}

// ErrChannelData means presence channel_data is not an object with a
// string or numeric user_id.
var ErrChannelData = errors.New("channel_data must be a JSON object with a user_id")

// ParseChannelData parses a presence subscription's channel_data.
func ParseChannelData(s string) (Member, error) {
	var raw struct {
		UserID   json.RawMessage `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return Member{}, ErrChannelData
	}
	id, ok := userIDString(raw.UserID)
	if !ok {
		return Member{}, ErrChannelData
	}
	return Member{UserID: id, UserInfo: compactOrNil(raw.UserInfo)}, nil
}

// userIDString normalises a user_id given as a JSON string or number to the
// string that goes on the wire.
func userIDString(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch {
	case v[0] == '"':
		var s string
		if json.Unmarshal(v, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		var f float64
		if json.Unmarshal(v, &f) != nil {
			return "", false
		}
		return jsNumber(f), true
	}
	return "", false
}

// jsNumber formats a number as JavaScript's String(n) does for the values
// apps use as ids, so "1.0" and "1e3" become "1" and "1000": pusher-js looks
// members up by String(user_id) of the channel_data it parsed.
func jsNumber(f float64) string {
	if f == 0 {
		return "0" // -0 too
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	// JavaScript writes the exponent without padding: 1e-7, 1.5e+21 (Go:
	// 1e-07, 1.5e+21).
	s := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.IndexByte(s, 'e')
	return s[:i+2] + strings.TrimLeft(s[i+2:], "0")
}

func compactOrNil(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return nil
	}
	return b.Bytes()
}

// User is a signed-in user as described by pusher:signin's user_data.
type User struct {
	ID        string
	UserInfo  json.RawMessage
	Watchlist []string
}

// ErrUserData means user_data is not an object with a non-empty string id.
var ErrUserData = errors.New("user_data must be a JSON object with a string id")

// ParseUserData parses the user_data of pusher:signin.
func ParseUserData(s string) (User, error) {
	var raw struct {
		ID        json.RawMessage `json:"id"`
		UserInfo  json.RawMessage `json:"user_info"`
		Watchlist []string        `json:"watchlist"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return User{}, ErrUserData
	}
	var id string
	if len(raw.ID) == 0 || raw.ID[0] != '"' || json.Unmarshal(raw.ID, &id) != nil || id == "" {
		return User{}, ErrUserData
	}
	return User{ID: id, UserInfo: compactOrNil(raw.UserInfo), Watchlist: raw.Watchlist}, nil
}

// AppendEvent appends a server frame {"event","channel","data","user_id"}
// to dst. data is a raw JSON value written as is (a JSON string for
// server-published events, any value for client events); channel, userID and
// data are left out when empty.
func AppendEvent(dst []byte, event, channel string, data []byte, userID string) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendJSONString(dst, event)
	if channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = AppendJSONString(dst, channel)
	}
	if len(data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	if userID != "" {
		dst = append(dst, `,"user_id":`...)
		dst = AppendJSONString(dst, userID)
	}
	return append(dst, '}')
}

// AppendPosition adds a sequenced event's position to a frame that
// AppendEvent wrote (dst ends with its closing brace): top-level "seq" and
// "epoch" fields, for subscribers that asked for positions (see
// SubscribeData.Position).
func AppendPosition(dst []byte, seq uint64, epoch string) []byte {
	dst = append(dst[:len(dst)-1], `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"epoch":`...)
	dst = AppendJSONString(dst, epoch)
	return append(dst, '}')
}

// AppendStringEvent appends a server frame whose data is the given text as
// a JSON string: the form every SDK expects for channel and internal events.
func AppendStringEvent(dst []byte, event, channel, data string) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendJSONString(dst, event)
	if channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = AppendJSONString(dst, channel)
	}
	dst = append(dst, `,"data":`...)
	dst = AppendJSONString(dst, data)
	return append(dst, '}')
}

// ConnectionEstablished is the first frame of every connection.
func ConnectionEstablished(socketID string, activityTimeout int) []byte {
	inner := make([]byte, 0, 48+len(socketID))
	inner = append(inner, `{"socket_id":`...)
	inner = AppendJSONString(inner, socketID)
	inner = append(inner, `,"activity_timeout":`...)
	inner = strconv.AppendInt(inner, int64(activityTimeout), 10)
	inner = append(inner, '}')
	return AppendStringEvent(nil, EventConnectionEstablished, "", string(inner))
}

// ErrorFrame encodes a pusher:error frame; data is an object, its code null
// when the error has none.
func ErrorFrame(e *Error) []byte { return ChannelErrorFrame(e, "") }

// ChannelErrorFrame is ErrorFrame with a channel field, for errors about one
// channel that do not close the connection.
func ChannelErrorFrame(e *Error, channel string) []byte {
	b := append(make([]byte, 0, 64+len(e.Message)), `{"event":"pusher:error"`...)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = AppendJSONString(b, channel)
	}
	b = append(b, `,"data":{"code":`...)
	if e.Code == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(e.Code), 10)
	}
	b = append(b, `,"message":`...)
	b = AppendJSONString(b, e.Message)
	return append(b, "}}"...)
}

// Frames with fixed content.
var (
	PingFrame = []byte(`{"event":"pusher:ping","data":{}}`)
	PongFrame = []byte(`{"event":"pusher:pong","data":{}}`)
)

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string literal. Invalid UTF-8 is
// replaced with U+FFFD, as encoding/json does.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers
		// that eval; escape them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
