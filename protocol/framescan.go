package protocol

import (
	"bytes"
	"encoding/json"

	"github.com/switchboard-rt/switchboard/internal/jsonscan"
)

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
	if !s.Skip('{') {
		return false
	}
	if s.Skip('}') {
		return s.End()
	}
	var seen uint8
	for {
		ks, ke, ok := s.PlainString()
		if !ok || !s.Skip(':') {
			return false
		}
		var bit uint8
		switch string(b[ks:ke]) {
		case "event":
			bit = 1
		case "channel":
			bit = 2
		case "data":
			bit = 4
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if bit == 4 {
			vs, ve, ok := s.Value()
			if !ok {
				return false
			}
			f.Data = json.RawMessage(bytes.Clone(b[vs:ve])) // b is the socket's read buffer
		} else {
			vs, ve, ok := s.PlainString()
			if !ok {
				return false
			}
			if bit == 1 {
				f.Event = eventName(b[vs:ve])
			} else {
				f.Channel = string(b[vs:ve])
			}
		}
		if s.Skip(',') {
			continue
		}
		return s.Skip('}') && s.End()
	}
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
