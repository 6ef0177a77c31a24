package restapi

import "encoding/json"

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
	s := scanner{b: body}
	if !s.skip('{') {
		return false
	}
	var text string // the body as a string, made on the first field
	var seen uint8
	if s.skip('}') {
		return s.end()
	}
	for {
		ks, ke, ok := s.plainString()
		if !ok || !s.skip(':') {
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
			start, ok := s.dataString()
			if !ok {
				return false
			}
			r.Data = json.RawMessage(body[start:s.i:s.i])
		case 4:
			chs, ok := s.stringArray(text)
			if !ok {
				return false
			}
			r.Channels = chs
		default:
			vs, ve, ok := s.plainString()
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
		if s.skip(',') {
			continue
		}
		if s.skip('}') {
			return s.end()
		}
		return false
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// skip consumes c after optional white space.
func (s *scanner) skip(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// plainString reads a string literal without escapes and returns the
// bounds of its contents.
func (s *scanner) plainString() (start, end int, ok bool) {
	if !s.skip('"') {
		return 0, 0, false
	}
	start = s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return start, s.i - 1, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// dataString reads a valid string literal, escapes allowed, and returns
// where its opening quote is; it ends after the closing quote.
func (s *scanner) dataString() (start int, ok bool) {
	if !s.skip('"') {
		return 0, false
	}
	start = s.i - 1
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return start, true
		case c < 0x20:
			return 0, false
		case c != '\\':
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return 0, false
		}
		switch s.b[s.i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			s.i += 2
		case 'u':
			if s.i+6 > len(s.b) || hex4(s.b[s.i+2:s.i+6]) < 0 {
				return 0, false
			}
			s.i += 6
		default:
			return 0, false
		}
	}
	return 0, false
}

// stringArray reads an array of plain strings as substrings of text, the
// body as a string.
func (s *scanner) stringArray(text string) ([]string, bool) {
	if !s.skip('[') {
		return nil, false
	}
	out := []string{}
	if s.skip(']') {
		return out, true
	}
	for {
		vs, ve, ok := s.plainString()
		if !ok {
			return nil, false
		}
		out = append(out, text[vs:ve])
		if s.skip(',') {
			continue
		}
		return out, s.skip(']')
	}
}
