package restapi

import (
	"encoding/json"

	"github.com/switchboard-rt/switchboard/internal/jsonscan"
)

// scanEvent reads a publish body of the shape every server SDK sends — one
// flat object with string name, channel, socket_id and info, a string data
// and an array of string channels — without reflection, and reports false
// for anything else: escapes in any field but data, a non-string data,
// null, unknown, repeated or differently-cased keys, and all invalid JSON.
// The caller then decodes with encoding/json, which stays the reference;
// FuzzScanEvent checks that wherever scanEvent answers, the two agree.
//
// body must be valid UTF-8. Strings share one copy of the body, so a
// request costs one allocation for all of them.
func scanEvent(body []byte, r *eventRequest) bool {
	s := jsonscan.Scanner{B: body}
	if !s.Skip('{') {
		return false
	}
	var text string // the body as a string, made on the first field
	var seen uint8
	if s.Skip('}') {
		return s.End()
	}
	for {
		ks, ke, ok := s.PlainString()
		if !ok || !s.Skip(':') {
			return false
		}
		var bit uint8
		switch string(body[ks:ke]) {
		case "name":
			bit = 1
		case "data":
			bit = 2
		case "channels":
			bit = 4
		case "channel":
			bit = 8
		case "socket_id":
			bit = 16
		case "info":
			bit = 32
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if text == "" {
			text = string(body)
		}
		switch bit {
		case 2:
			start, ok := s.String()
			if !ok {
				return false
			}
			r.Data = json.RawMessage(body[start:s.I:s.I])
		case 4:
			chs, ok := s.StringArray(text)
			if !ok {
				return false
			}
			r.Channels = chs
		default:
			vs, ve, ok := s.PlainString()
			if !ok {
				return false
			}
			v := text[vs:ve]
			switch bit {
			case 1:
				r.Name = v
			case 8:
				r.Channel = v
			case 16:
				r.SocketID = v
			case 32:
				r.Info = v
			}
		}
		if s.Skip(',') {
			continue
		}
		if s.Skip('}') {
			return s.End()
		}
		return false
	}
}
