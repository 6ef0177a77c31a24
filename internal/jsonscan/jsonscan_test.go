package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestValue(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // the value read; "" when it must fail
		rest string // what follows it
	}{
		{`{}`, `{}`, ``},
		{` {"a":[1,{"b":"}"}],"c":"\"]"}, 1`, `{"a":[1,{"b":"}"}],"c":"\"]"}`, `, 1`},
		{`"x\u00e9\n" }`, `"x\u00e9\n"`, ` }`},
		{`-1.5e3}`, `-1.5e3`, `}`},
		{`true]`, `true`, `]`},
		{`null,`, `null`, `,`},
		{`[]`, `[]`, ``},
		{`{"a":1`, ``, ``},
		{`{"a":1]`, ``, ``},
		{`}`, ``, ``},
		{`01`, ``, ``},
		{`0""`, ``, ``},
		{`tru`, ``, ``},
		{`"\x"`, ``, ``},
		{`{"a" 1}`, ``, ``},
		{``, ``, ``},
	} {
		s := Scanner{B: []byte(c.in)}
		start, end, ok := s.Value()
		if c.want == "" {
			if ok {
				t.Errorf("Value(%q) read %q, want a failure", c.in, c.in[start:end])
			}
			continue
		}
		if !ok || c.in[start:end] != c.want || c.in[s.I:] != c.rest {
			t.Errorf("Value(%q) = %q (ok %v), rest %q; want %q, rest %q", c.in, c.in[start:end], ok, c.in[s.I:], c.want, c.rest)
		}
	}
}

// FuzzValue checks Value against encoding/json's validator: what it reads
// is one valid value, and a document that is one valid value is read whole.
func FuzzValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,"]"]}`, ` 12 `, `"\ud83d\ude00"`, `[{}]]`, `{"a":}`, `nul`, `[1,2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := Scanner{B: b}
		start, end, ok := s.Value()
		if ok {
			if len(bytes.TrimSpace(b[:start])) != 0 || !json.Valid(b[start:end]) || s.I != end {
				t.Fatalf("Value(%q) read %q from %d", b, b[start:end], start)
			}
		}
		if json.Valid(b) && (!ok || !s.End()) {
			t.Fatalf("Value(%q) did not read the whole valid document (ok %v, stopped at %d)", b, ok, s.I)
		}
	})
}

// FuzzText checks Text against encoding/json's decoding of a string.
func FuzzText(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`, `"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud83d\ude00\ud83d"`, `"\u12"`, `"x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		s := Scanner{B: b}
		got, ok := s.Text()
		if !ok || !s.End() {
			return
		}
		var want string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("Text read %q from %q, encoding/json refused it: %v", got, b, err)
		}
		if got != want {
			t.Fatalf("%q: Text %q, encoding/json %q", b, got, want)
		}
	})
}
