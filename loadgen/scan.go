package loadgen

import (
	"bytes"
	"math"
	"strconv"
)

// The payload of every measured event carries its send time and sequence
// as JSON numbers under these keys:
//
//	{"sbt":1718000000123456789,"seq":42,"pad":"xxxx…"}
//
// A server delivers it as the frame's data string (quotes escaped) for
// HTTP-published events, or as an object for client events. Both are found
// by scanning for the key and skipping the quote, backslash and colon bytes
// that follow, so the receive path never decodes JSON: it costs one
// bytes.Index over a ~200-byte frame instead of two json.Unmarshal calls
// (the README's 9 µs per message budget is mostly kernel and gws).
var (
	keyStamp = []byte(`sbt`)
	keySeq   = []byte(`seq`)
)

// scanStamp finds the send timestamp (unix nanoseconds) and sequence in a
// frame. ok is false for frames that are not measured events.
func scanStamp(b []byte) (ts, seq int64, ok bool) {
	i := bytes.Index(b, keyStamp)
	if i < 0 {
		return 0, 0, false
	}
	b = b[i+len(keyStamp):]
	ts, n := scanNumberAfterKey(b)
	if n == 0 {
		return 0, 0, false
	}
	b = b[n:]
	if j := bytes.Index(b, keySeq); j >= 0 {
		seq, _ = scanNumberAfterKey(b[j+len(keySeq):])
	}
	return ts, seq, true
}

// scanNumberAfterKey skips the `"`, `\`, `:` and space bytes that separate
// a key from its value and parses the non-negative integer that follows.
// It returns the value and how many bytes it consumed (0: no number).
func scanNumberAfterKey(b []byte) (int64, int) {
	i := 0
	for i < len(b) && i < 8 {
		c := b[i]
		if c != '"' && c != '\\' && c != ':' && c != ' ' {
			break
		}
		i++
	}
	start := i
	var v int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d := int64(b[i] - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, 0 // not one of ours
		}
		v = v*10 + d
		i++
	}
	if i == start {
		return 0, 0
	}
	return v, i
}

// appendPayload appends a measured payload of about size bytes (at least
// the stamp and sequence) as raw JSON: {"sbt":ts,"seq":seq,"pad":"xxx"}.
func appendPayload(dst []byte, ts, seq int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"sbt":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"pad":"`...)
	// 2 bytes for the closing `"}`.
	for pad := size - (len(dst) - start) - 2; pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// appendJSONString appends s as a JSON string literal. Payloads and names
// written by the load generator never need more than quote and backslash
// escaping, but control bytes are escaped too for safety.
func appendJSONString(dst []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
