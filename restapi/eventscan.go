package restapi

import (
	"encoding/json"

	"github.com/switchboard-rt/switchboard/internal/jsonscan"
)

// The keys scanEvent knows, in eventKeys' order.
const (
	keyName = iota
	keyData
	keyChannels
	keyChannel
	keySocketID
	keyInfo
)

var eventKeys = []string{"name", "data", "channels", "channel", "socket_id", "info"}

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
	var text string // the body as a string, made on the first field
	return s.Fields(eventKeys, func(key int) bool {
		if text == "" {
			text = string(body)
		}
		switch key {
		case keyData:
			start, ok := s.String()
			if ok {
				r.Data = json.RawMessage(body[start:s.I:s.I])
			}
			return ok
		case keyChannels:
			chs, ok := s.StringArray(text)
			if ok {
				r.Channels = chs
			}
			return ok
		}
		vs, ve, ok := s.PlainString()
		if !ok {
			return false
		}
		switch v := text[vs:ve]; key {
		case keyName:
			r.Name = v
		case keyChannel:
			r.Channel = v
		case keySocketID:
			r.SocketID = v
		case keyInfo:
			r.Info = v
		}
		return true
	}) && s.End()
}
