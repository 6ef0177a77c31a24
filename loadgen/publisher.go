package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
)

// publisher sends events through the HTTP API (POST /apps/{id}/events),
// signed like the official server SDKs sign them, over a small pool of
// keep-alive connections.
type publisher struct {
	cfg      *Config
	client   *http.Client
	base     string // http://host:port
	path     string // /apps/{id}/events
	channels []string
	payload  int

	hist    *histogram     // request round trips
	sentOK  []atomic.Int64 // successful publishes per channel
	sent    atomic.Int64   // requests completed, any status
	failed  atomic.Int64   // non-200 answers and transport errors
	skipped atomic.Int64   // paced sends dropped because every worker was busy
	errs    *errCounter
}

func newPublisher(cfg *Config, channels []string, conns int, errs *errCounter) *publisher {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &publisher{
		cfg:      cfg,
		client:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
		base:     "http://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		path:     "/apps/" + url.PathEscape(cfg.AppID) + "/events",
		channels: channels,
		payload:  cfg.Payload,
		hist:     newHistogram(),
		sentOK:   make([]atomic.Int64, len(channels)),
		errs:     errs,
	}
}

func (p *publisher) close() { p.client.CloseIdleConnections() }

// sentOn is how many publishes to channel i the server accepted.
func (p *publisher) sentOn(i int) int64 { return p.sentOK[i].Load() }

func (p *publisher) totalOK() int64 {
	var n int64
	for i := range p.sentOK {
		n += p.sentOK[i].Load()
	}
	return n
}

// publishOne sends event seq to channel ch (an index into channels). buf
// is scratch space returned for reuse by the same worker.
func (p *publisher) publishOne(ctx context.Context, ch int, seq int64, buf []byte, worker int) []byte {
	ts := time.Now().UnixNano()
	body := append(buf[:0], `{"name":"bench","channels":[`...)
	body = appendJSONString(body, []byte(p.channels[ch]))
	body = append(body, `],"data":`...)
	// The payload is built after the envelope so one buffer serves both:
	// data is the payload JSON, carried as a JSON string.
	mark := len(body)
	body = appendPayload(body, ts, seq, p.payload)
	data := append([]byte(nil), body[mark:]...)
	body = appendJSONString(body[:mark], data)
	body = append(body, '}')

	q := url.Values{}
	if !p.cfg.Baseline {
		protocol.SignRequest(p.cfg.Key, p.cfg.Secret, http.MethodPost, p.path, q, body, ts/int64(time.Second))
	}
	u := p.base + p.path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		p.fail("request: " + err.Error())
		return body
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			p.fail("publish: " + errReason(err))
		}
		return body
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	p.sent.Add(1)
	p.hist.record(worker, (time.Now().UnixNano()-ts)/1000)
	if resp.StatusCode != http.StatusOK {
		p.fail(fmt.Sprintf("publish: HTTP %d", resp.StatusCode))
		return body
	}
	p.sentOK[ch].Add(1)
	return body
}

func (p *publisher) fail(reason string) {
	p.failed.Add(1)
	p.errs.add(reason)
}

// runPaced publishes at rate events per second for d, round-robin over
// the channels, with workers requests in flight at most. A ticker paces
// the sends (one tick per event up to 1,000/s, then every millisecond
// with the events due); an event that finds every worker busy is skipped
// and counted rather than queued, so a slow server cannot turn the
// schedule into bursts.
func (p *publisher) runPaced(ctx context.Context, d time.Duration, rate float64, workers int) {
	// Requests in flight at the end still complete (under the caller's
	// ctx): a cancelled request may have been delivered, and counting it
	// as unsent would show negative loss.
	schedCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// The queue absorbs 20 ms of schedule (or 4 per worker) so that one
	// slow response does not make the next sends miss their slot; the
	// send timestamp is taken when a worker sends, so queueing never
	// counts as server latency.
	jobs := make(chan int64, max(4*workers, int(rate/50)))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, p.payload*2+256)
			for seq := range jobs {
				buf = p.publishOne(ctx, int((seq-1)%int64(len(p.channels))), seq, buf, w)
			}
		}()
	}
	pace(schedCtx, d, rate, func(seq int64) {
		select {
		case jobs <- seq:
		default:
			p.skipped.Add(1)
		}
	})
	close(jobs)
	wg.Wait()
}

// runClosed keeps workers requests in flight back to back for d: the
// publish throughput of the server at that concurrency.
func (p *publisher) runClosed(ctx context.Context, d time.Duration, workers int) {
	deadline := time.Now().Add(d)
	var seq atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, p.payload*2+256)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := seq.Add(1)
				buf = p.publishOne(ctx, int((n-1)%int64(len(p.channels))), n, buf, w)
			}
		}()
	}
	wg.Wait()
}
