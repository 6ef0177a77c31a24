// Package jsonscan reads the few fixed JSON shapes that arrive on hot
// paths (a client's WebSocket frame, a server SDK's publish body) without
// reflection. Its callers accept only what they recognise and hand
// everything else to encoding/json, which stays the reference; each
// caller's fuzz test checks that the two agree wherever the scanner
// answers.
//
// It works in a flat loop, not by recursion: a socket's read goroutine
// decoding a ping through encoding/json grew its stack from 2 to 8 KiB,
// on every idle socket at once when the activity timeout comes round.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// Scanner reads B from I on.
type Scanner struct {
	B []byte
	I int
}

// Space skips white space.
func (s *Scanner) Space() {
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// Skip consumes c after optional white space.
func (s *Scanner) Skip(c byte) bool {
	s.Space()
	if s.I < len(s.B) && s.B[s.I] == c {
		s.I++
		return true
	}
	return false
}

// End reports whether only white space is left.
func (s *Scanner) End() bool {
	s.Space()
	return s.I == len(s.B)
}

// Fields reads an object whose keys are plain strings, each one of keys
// and none twice (at most 64 keys). For each it calls field with the
// key's index in keys, the scanner at the value, which field reads,
// reporting whether it could. Anything else fails: unknown, repeated or
// escaped keys, invalid syntax.
func (s *Scanner) Fields(keys []string, field func(key int) bool) bool {
	if !s.Skip('{') {
		return false
	}
	if s.Skip('}') {
		return true
	}
	var seen uint64
	for {
		ks, ke, ok := s.PlainString()
		if !ok || !s.Skip(':') {
			return false
		}
		key := -1
		for i, name := range keys {
			if string(s.B[ks:ke]) == name {
				key = i
				break
			}
		}
		if key < 0 || seen&(1<<key) != 0 || !field(key) {
			return false
		}
		seen |= 1 << key
		if s.Skip(',') {
			continue
		}
		return s.Skip('}')
	}
}

// PlainString reads a string literal without escapes and returns the
// bounds of its contents.
func (s *Scanner) PlainString() (start, end int, ok bool) {
	if !s.Skip('"') {
		return 0, 0, false
	}
	start = s.I
	for ; s.I < len(s.B); s.I++ {
		switch c := s.B[s.I]; {
		case c == '"':
			s.I++
			return start, s.I - 1, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// String reads a valid string literal, escapes allowed, and returns where
// its opening quote is; it ends after the closing quote.
func (s *Scanner) String() (start int, ok bool) {
	if !s.Skip('"') {
		return 0, false
	}
	start = s.I - 1
	for s.I < len(s.B) {
		c := s.B[s.I]
		switch {
		case c == '"':
			s.I++
			return start, true
		case c < 0x20:
			return 0, false
		case c != '\\':
			s.I++
			continue
		}
		if s.I+1 >= len(s.B) {
			return 0, false
		}
		switch s.B[s.I+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			s.I += 2
		case 'u':
			if s.I+6 > len(s.B) || hex4(s.B[s.I+2:s.I+6]) < 0 {
				return 0, false
			}
			s.I += 6
		default:
			return 0, false
		}
	}
	return 0, false
}

// Text reads a string literal and returns the text it stands for,
// decoded as encoding/json decodes it: a lone surrogate escape becomes
// U+FFFD. B must be valid UTF-8.
func (s *Scanner) Text() (string, bool) {
	start, ok := s.String()
	if !ok {
		return "", false
	}
	lit := s.B[start+1 : s.I-1]
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit), true
	}
	out := make([]byte, 0, len(lit))
	for i := 0; i < len(lit); {
		if lit[i] != '\\' {
			out = append(out, lit[i])
			i++
			continue
		}
		switch e := lit[i+1]; e { // String has checked every escape
		case 'u':
			var r rune
			r, i = UnicodeEscape(lit, i)
			out = utf8.AppendRune(out, r)
			continue
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default: // " \ /
			out = append(out, e)
		}
		i += 2
	}
	return string(out), true
}

// UnicodeEscape reads the \uXXXX escape at lit[i] (a valid one, as String
// checks) and returns the character it stands for and the index after it.
// A surrogate takes the escape after it as its pair when the two make
// one; otherwise it stands for U+FFFD, as encoding/json decodes it.
func UnicodeEscape(lit []byte, i int) (rune, int) {
	r := hex4(lit[i+2 : i+6])
	i += 6
	if !utf16.IsSurrogate(r) {
		return r, i
	}
	if i+6 <= len(lit) && lit[i] == '\\' && lit[i+1] == 'u' {
		if pair := utf16.DecodeRune(r, hex4(lit[i+2:i+6])); pair != utf8.RuneError {
			return pair, i + 6
		}
	}
	return utf8.RuneError, i
}

// StringArray reads an array of plain strings as substrings of text, which
// is B as a string (one copy for every string of the document).
func (s *Scanner) StringArray(text string) ([]string, bool) {
	if !s.Skip('[') {
		return nil, false
	}
	out := []string{}
	if s.Skip(']') {
		return out, true
	}
	for {
		vs, ve, ok := s.PlainString()
		if !ok {
			return nil, false
		}
		out = append(out, text[vs:ve])
		if s.Skip(',') {
			continue
		}
		return out, s.Skip(']')
	}
}

// Value reads any valid JSON value and returns its bounds. It finds where
// the value ends by brackets and quotes alone, then has encoding/json's
// validator (a state machine: no recursion) check that stretch.
func (s *Scanner) Value() (start, end int, ok bool) {
	s.Space()
	start = s.I
	depth := 0
	for s.I < len(s.B) {
		switch c := s.B[s.I]; c {
		case '"':
			q, ok := s.String()
			if !ok {
				return 0, 0, false
			}
			if depth == 0 { // String has checked it, unless it follows a number or literal
				return start, s.I, q == start
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // the end of a number or literal in an object or array
				return start, s.I, s.I > start && json.Valid(s.B[start:s.I])
			}
			depth--
			if depth == 0 {
				s.I++
				return start, s.I, json.Valid(s.B[start:s.I])
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 { // the end of a number or literal
				return start, s.I, s.I > start && json.Valid(s.B[start:s.I])
			}
		}
		s.I++
	}
	return start, s.I, depth == 0 && s.I > start && json.Valid(s.B[start:s.I])
}

// hex4 reads the four hex digits of a \uXXXX escape, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
