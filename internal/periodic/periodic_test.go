package periodic

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testwait"
)

func TestNowAndEveryCallsAtOnceThenRepeatsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		NowAndEvery(ctx, time.Millisecond, func(context.Context) { calls.Add(1) })
	}()
	testwait.Until(t, 10*time.Second, func() bool { return calls.Load() >= 3 })
	cancel()
	<-done
	n := calls.Load()
	time.Sleep(5 * time.Millisecond) // no call may come after Run returned
	if calls.Load() != n {
		t.Fatal("called after returning")
	}
}

func TestEveryWaitsOneInterval(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	Every(ctx, time.Hour, func(context.Context) { called = true })
	NowAndEvery(ctx, time.Hour, func(context.Context) { called = true })
	if called {
		t.Fatal("called with a cancelled context")
	}
}
