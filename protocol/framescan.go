package protocol

import (
	"bytes"
	"encoding/json"

	"github.com/switchboard-rt/switchboard/internal/jsonscan"
)

// The keys scanClientFrame knows, in clientFrameKeys' order.
const (
	keyEvent = iota
	keyChannel
	keyData
)

var clientFrameKeys = []string{"event", "channel", "data"}

// scanClientFrame reads the frames the Pusher clients send — one object
// with a plain string event, a plain string channel and any data — and
// reports false for anything else (escapes in event or channel, null,
// unknown, repeated or differently-cased keys, invalid JSON), which
// encoding/json then decodes. FuzzScanClientFrame checks that wherever it
// answers, encoding/json agrees.
//
// Every idle socket sends or answers a ping once per activity timeout;
// through encoding/json that grew its read goroutine's stack from 2 to
// 8 KiB, all sockets in the same second (see internal/jsonscan).
func scanClientFrame(b []byte, f *ClientFrame) bool {
	s := jsonscan.Scanner{B: b}
	return s.Fields(clientFrameKeys, func(key int) bool {
		if key == keyData {
			vs, ve, ok := s.Value()
			if ok {
				f.Data = json.RawMessage(bytes.Clone(b[vs:ve])) // b is the socket's read buffer
			}
			return ok
		}
		vs, ve, ok := s.PlainString()
		switch {
		case !ok:
		case key == keyEvent:
			f.Event = eventName(b[vs:ve])
		default:
			f.Channel = string(b[vs:ve])
		}
		return ok
	}) && s.End()
}

// The keys of the control events' data that scanStrings reads, in the
// order of its dst arguments; a subscribe's "position" (our extension)
// goes through encoding/json.
var (
	subscribeKeys = []string{"channel", "auth", "channel_data"}
	signinKeys    = []string{"auth", "user_data"}
)

// scanStrings reads an object whose values are all strings into dst, one
// per key of keys, with the same refusals as scanClientFrame; encoding/json
// decodes what it refuses. The whole subscribe or sign-in, not only the
// frame around it, then stays off encoding/json's deep stack.
func scanStrings(obj []byte, keys []string, dst ...*string) bool {
	s := jsonscan.Scanner{B: obj}
	return s.Fields(keys, func(key int) bool {
		v, ok := s.Text()
		*dst[key] = v
		return ok
	}) && s.End()
}

// eventName returns the protocol's own event names without a copy.
func eventName(b []byte) string {
	switch string(b) {
	case EventPing:
		return EventPing
	case EventPong:
		return EventPong
	case EventSubscribe:
		return EventSubscribe
	case EventUnsubscribe:
		return EventUnsubscribe
	case EventSignin:
		return EventSignin
	}
	return string(b)
}
