package restapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants"
)

// discardWriter is a ResponseWriter that keeps only the status, so the
// benchmark measures the API rather than httptest.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

// BenchmarkPublishHandler is one signed POST /events in, its message
// handed to a memory bus with one no-op node: the API's whole cost per
// publish (routing, signature, body, validation, rate limit, metrics).
//
//	go test -run XXX -bench PublishHandler -benchmem -count 6 ./restapi/
func BenchmarkPublishHandler(b *testing.B) {
	store := tenants.NewMemoryStore()
	app := tenants.NewApp(appID, key, secret)
	app.MaxBackendEventsPerSecond = 1 << 30 // the limiter on the path, never refusing
	_ = store.PutApp(context.Background(), app)
	mb, state := bus.NewMemory(), bus.NewMemoryState()
	var published int
	mb.Attach(countingHandler{&published})
	h := restapi.New(restapi.Options{
		Apps: tenants.NewDirectory(store, 0), Publisher: &bus.Publisher{Bus: mb, State: state}, State: state,
	}).Handler()
	body := []byte(`{"name":"tick","channels":["prices"],"data":"{\"price\":101.25,\"symbol\":\"ACME\",\"ts\":1732406400123}"}`)
	q := url.Values{}
	protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, body, time.Now().Unix())
	u, _ := url.Parse("/apps/1/events?" + q.Encode())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := &http.Request{
			Method: "POST", URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header:        http.Header{"Content-Type": {"application/json"}},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), RequestURI: u.RequestURI(),
		}
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	b.StopTimer()
	if published != b.N {
		b.Fatalf("%d published for %d requests", published, b.N)
	}
}

// countingHandler is the one node on the bus: it only counts.
type countingHandler struct{ n *int }

func (c countingHandler) Deliver(*bus.Message) { *c.n++ }
