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
