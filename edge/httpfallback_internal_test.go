package edge

import (
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
)

func TestFallbackPath(t *testing.T) {
	for _, c := range []struct {
		path, key, session, op string
		ok                     bool
	}{
		{"/pusher/app/k1/123/abcdefgh/xhr_streaming", "k1", "123/abcdefgh", "xhr_streaming", true},
		{"/app/k1/1/s/xhr", "k1", "1/s", "xhr", true},
		{"/x/y/app/k1/1/s/xhr_send", "k1", "1/s", "xhr_send", true},
		{"/app/k1", "", "", "", false},
		{"/app/k1/1/s/other", "", "", "", false},
		{"/app/k1/1/xhr", "", "", "", false},
		{"/app//1/s/xhr", "", "", "", false},
		{"/app/k1/1/s/xhr/extra", "", "", "", false},
	} {
		key, session, op, ok := fallbackPath(c.path)
		if ok != c.ok || key != c.key || session != c.session || op != c.op {
			t.Errorf("%s: got %q %q %q %v", c.path, key, session, op, ok)
		}
	}
}

func TestSSEIDRoundTrip(t *testing.T) {
	in := map[string]protocol.Position{"a,b": {Epoch: "e-1", Seq: 3}, "x": {Epoch: "f.g", Seq: 10}}
	got := parseSSEID(formatSSEID(in))
	if len(got) != 2 || got["a,b"] != in["a,b"] || got["x"] != in["x"] {
		t.Fatalf("round trip: %v", got)
	}
}

func FuzzParseSSEID(f *testing.F) {
	f.Add("a=e.1&b=f.2")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, id string) { _ = parseSSEID(id) })
}

func FuzzFallbackPath(f *testing.F) {
	f.Add("/pusher/app/k/1/s/xhr")
	f.Fuzz(func(t *testing.T, p string) { _, _, _, _ = fallbackPath(p); _, _ = sseKey(p) })
}
