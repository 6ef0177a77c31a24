package edge

import "testing"

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
