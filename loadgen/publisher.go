package loadgen

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
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
// signed like the official server SDKs sign them, each worker over its
// own keep-alive connection (httpConn).
type publisher struct {
	cfg      *Config
	addr     string // host:port
	path     string // /apps/{id}/events
	keyParam string // auth_key=…, escaped for the query
	channels []string
	payload  int

	hist    *histogram     // request round trips
	sentOK  []atomic.Int64 // successful publishes per channel
	sent    atomic.Int64   // requests completed, any status
	failed  atomic.Int64   // non-200 answers and transport errors
	skipped atomic.Int64   // paced sends dropped because every worker was busy
	errs    *errCounter
}

func newPublisher(cfg *Config, channels []string, errs *errCounter) *publisher {
	return &publisher{
		cfg:      cfg,
		addr:     net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		path:     "/apps/" + url.PathEscape(cfg.AppID) + "/events",
		keyParam: "auth_key=" + url.QueryEscape(cfg.Key),
		channels: channels,
		payload:  cfg.Payload,
		hist:     newHistogram(),
		sentOK:   make([]atomic.Int64, len(channels)),
		errs:     errs,
	}
}

// sentOn is how many publishes to channel i the server accepted.
func (p *publisher) sentOn(i int) int64 { return p.sentOK[i].Load() }

func (p *publisher) totalOK() int64 {
	var n int64
	for i := range p.sentOK {
		n += p.sentOK[i].Load()
	}
	return n
}

// pubWorker is one worker's connection and scratch space, reused for
// every request it sends.
type pubWorker struct {
	id     int
	conn   *httpConn
	mac    hash.Hash
	sum    []byte
	body   []byte
	data   []byte
	target []byte
	sign   []byte
}

func (p *publisher) newWorker(id int) *pubWorker {
	return &pubWorker{
		id:   id,
		conn: newHTTPConn(p.addr, 30*time.Second),
		mac:  hmac.New(sha256.New, []byte(p.cfg.Secret)),
		body: make([]byte, 0, p.payload*2+256),
	}
}

// publishOne sends event seq to channel ch (an index into channels).
func (p *publisher) publishOne(ctx context.Context, ch int, seq int64, w *pubWorker) {
	ts := time.Now().UnixNano()
	body := append(w.body[:0], `{"name":"bench","channels":[`...)
	body = appendJSONString(body, []byte(p.channels[ch]))
	body = append(body, `],"data":`...)
	// data is the payload JSON, carried as a JSON string.
	w.data = appendPayload(w.data[:0], ts, seq, p.payload)
	body = appendJSONString(body, w.data)
	body = append(body, '}')
	w.body = body
	p.appendTarget(w, body, ts/int64(time.Second))

	status, err := w.conn.post(ctx, w.target, "application/json", body)
	if err != nil {
		if ctx.Err() == nil {
			p.fail("publish: " + errReason(err))
		}
		return
	}
	p.sent.Add(1)
	p.hist.record(w.id, (time.Now().UnixNano()-ts)/1000)
	if status != http.StatusOK {
		p.fail(fmt.Sprintf("publish: HTTP %d", status))
		return
	}
	p.sentOK[ch].Add(1)
}

// appendTarget sets w.target to the path and, unless the target is the
// unsigned baseline, the query the SDKs send: auth_key, auth_timestamp,
// auth_version, body_md5 and auth_signature over them.
func (p *publisher) appendTarget(w *pubWorker, body []byte, unix int64) {
	t := append(w.target[:0], p.path...)
	if p.cfg.Baseline {
		w.target = t
		return
	}
	sum := md5.Sum(body)
	bodyMD5 := hex.EncodeToString(sum[:])
	stamp := strconv.FormatInt(unix, 10)
	w.sign = protocol.AppendParamsStringToSign(w.sign[:0], http.MethodPost, p.path, []protocol.Param{
		{Name: "auth_key", Value: p.cfg.Key}, {Name: "auth_timestamp", Value: stamp},
		{Name: "auth_version", Value: "1.0"}, {Name: "body_md5", Value: bodyMD5},
	})
	w.mac.Reset()
	w.mac.Write(w.sign)
	w.sum = w.mac.Sum(w.sum[:0])
	t = append(t, '?')
	t = append(t, p.keyParam...)
	t = append(t, "&auth_timestamp="...)
	t = append(t, stamp...)
	t = append(t, "&auth_version=1.0&body_md5="...)
	t = append(t, bodyMD5...)
	t = append(t, "&auth_signature="...)
	t = hex.AppendEncode(t, w.sum)
	w.target = t
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
			pw := p.newWorker(w)
			defer pw.conn.close()
			for seq := range jobs {
				p.publishOne(ctx, int((seq-1)%int64(len(p.channels))), seq, pw)
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
			pw := p.newWorker(w)
			defer pw.conn.close()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := seq.Add(1)
				p.publishOne(ctx, int((n-1)%int64(len(p.channels))), n, pw)
			}
		}()
	}
	wg.Wait()
}
