package edge

import (
	"context"
	"sync"
	"time"
)

// delayer runs keyed actions after a delay: presence and sign-in removals
// held for the grace period, coalesced subscription counts. It owns its
// timers; flush runs everything still pending at once (on drain, so no
// removal is lost), after which actions run immediately.
type delayer struct {
	mu      sync.Mutex
	pending map[string]*time.Timer
	fns     map[string]func()
	running int // fired actions not yet returned
	flushed bool
}

func newDelayer() *delayer {
	return &delayer{pending: map[string]*time.Timer{}, fns: map[string]func(){}}
}

// after schedules f under key unless an action with that key is pending;
// it reports whether it scheduled. A delay of zero or less runs f now.
func (d *delayer) after(key string, delay time.Duration, f func()) bool {
	d.mu.Lock()
	if d.flushed || delay <= 0 {
		d.mu.Unlock()
		f()
		return true
	}
	if _, ok := d.pending[key]; ok {
		d.mu.Unlock()
		return false
	}
	d.fns[key] = f
	d.pending[key] = time.AfterFunc(delay, func() { d.fire(key) })
	d.mu.Unlock()
	return true
}

func (d *delayer) fire(key string) {
	d.mu.Lock()
	f := d.fns[key]
	delete(d.fns, key)
	delete(d.pending, key)
	d.running++
	d.mu.Unlock()
	if f != nil {
		f()
	}
	d.mu.Lock()
	d.running--
	d.mu.Unlock()
}

// settle waits until no action is pending or running, or ctx ends: on
// drain the held removals then happen at their own time, none is cut short
// by the end of the server's context, and a node with nothing held does
// not wait at all.
func (d *delayer) settle(ctx context.Context) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		d.mu.Lock()
		busy := len(d.pending) + d.running
		d.mu.Unlock()
		if busy == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cancel drops a pending action and reports whether there was one.
func (d *delayer) cancel(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.pending[key]
	if !ok {
		return false
	}
	t.Stop()
	delete(d.pending, key)
	delete(d.fns, key)
	return true
}

// now runs a pending action at once, on the caller's goroutine, and
// reports whether there was one.
func (d *delayer) now(key string) bool {
	d.mu.Lock()
	t, ok := d.pending[key]
	f := d.fns[key]
	if ok {
		t.Stop()
		delete(d.pending, key)
		delete(d.fns, key)
	}
	d.mu.Unlock()
	if ok && f != nil {
		f()
	}
	return ok
}

// flush runs every pending action now; later ones run immediately.
func (d *delayer) flush() {
	d.mu.Lock()
	d.flushed = true
	fns := make([]func(), 0, len(d.fns))
	for k, t := range d.pending {
		if t.Stop() {
			fns = append(fns, d.fns[k])
		}
	}
	clear(d.pending)
	clear(d.fns)
	d.mu.Unlock()
	for _, f := range fns {
		f()
	}
}
