package loadgen

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name, raw  string
		status     int
		keep, fail bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 200, true, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\n{}\r\n0\r\nTrailer: 1\r\n\r\n", 200, true, false},
		{"close", "HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 4\r\n\r\nnope", 403, false, false},
		{"1.0 without length", "HTTP/1.0 200 OK\r\n\r\nall of it", 200, false, false},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 200, true, false},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 204, true, false},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", 0, false, true},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", 0, false, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200, false, true},
		{"header without colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", 200, false, true},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 200, false, true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", 200, false, true},
		{"cut in headers", "HTTP/1.1 200 OK\r\nContent-Le", 200, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// What follows the response must be left unread: it is the next one.
			br := bufio.NewReader(strings.NewReader(tc.raw + "NEXT"))
			status, keep, err := readResponse(br)
			if (err != nil) != tc.fail {
				t.Fatalf("err = %v, want failure %v", err, tc.fail)
			}
			if tc.fail {
				return
			}
			if status != tc.status || keep != tc.keep {
				t.Fatalf("status %d keep %v, want %d %v", status, keep, tc.status, tc.keep)
			}
			if rest, _ := io.ReadAll(br); keep && string(rest) != "NEXT" {
				t.Fatalf("left %q unread, want NEXT", rest)
			}
		})
	}
}

// The connection is reused while the server keeps it, dialled again when
// the server closes it, and every request arrives whole.
func TestHTTPConnPostsOverOneConnection(t *testing.T) {
	var remotes []string
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		remotes = append(remotes, r.RemoteAddr)
		bodies = append(bodies, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+string(b))
		if string(b) == "last" {
			w.Header().Set("Connection", "close")
		}
		if string(b) == "big" {
			// Larger than one write: net/http sends it chunked.
			_, _ = w.Write([]byte(strings.Repeat("x", 10000)))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	h := newHTTPConn(strings.TrimPrefix(srv.URL, "http://"), 5*time.Second)
	defer h.close()
	for _, body := range []string{"one", "big", "last", "again"} {
		status, err := h.post(context.Background(), []byte("/apps/1/events?a=b"), "application/json", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want := http.StatusAccepted
		if body == "big" {
			want = http.StatusOK
		}
		if status != want {
			t.Fatalf("%s: status %d, want %d", body, status, want)
		}
	}
	if remotes[0] != remotes[1] || remotes[1] != remotes[2] || remotes[2] == remotes[3] {
		t.Fatalf("connections used: %v; want one for the first three, a new one after the close", remotes)
	}
	if bodies[0] != "POST /apps/1/events?a=b application/json one" {
		t.Fatalf("server saw %q", bodies[0])
	}
}

// Ending the context aborts a request the server never answers.
func TestHTTPConnStopsWithTheContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h := newHTTPConn(strings.TrimPrefix(srv.URL, "http://"), time.Minute)
	defer h.close()
	if _, err := h.post(ctx, []byte("/"), "text/plain", []byte("x")); err == nil {
		t.Fatal("post returned without an error after its context ended")
	}
}
