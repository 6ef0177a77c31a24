// Package queuetest holds the conformance suites every webhooks.Queue and
// every webhooks.AttemptLog pass.
package queuetest

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/webhooks"
)

// Open returns a fresh, empty queue whose claim timeout is claimIdle; it
// registers its own cleanup.
type Open func(t *testing.T, claimIdle time.Duration) webhooks.Queue

// Run runs the suite against the queues open makes.
func Run(t *testing.T, open Open) {
	t.Run("AddReadAck", func(t *testing.T) { testAddReadAck(t, open) })
	t.Run("DeadConsumerJobsMove", func(t *testing.T) { testDeadConsumer(t, open) })
	t.Run("ReadBlocksUntilAdd", func(t *testing.T) { testReadBlocks(t, open) })
}

func job(url string) webhooks.Job {
	return webhooks.Job{AppID: "1", URL: url, Payload: webhooks.NewPayload(time.UnixMilli(1000),
		webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "c"})}
}

func testAddReadAck(t *testing.T, open Open) {
	ctx := context.Background()
	q := open(t, time.Hour)
	for _, u := range []string{"http://a/1", "http://a/2"} {
		if err := q.Add(ctx, job(u)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := q.Len(ctx); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	jobs, err := q.Read(ctx, "c1", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].URL != "http://a/1" || jobs[1].URL != "http://a/2" {
		t.Fatalf("Read = %+v", jobs)
	}
	if jobs[0].Payload.Events[0].Channel != "c" || jobs[0].Payload.TimeMS != 1000 || jobs[0].ID == "" {
		t.Fatalf("job did not round-trip: %+v", jobs[0])
	}
	if again, _ := q.Read(ctx, "c2", 10, 0); len(again) != 0 {
		t.Fatalf("claimed jobs handed out again: %+v", again)
	}
	for _, j := range jobs {
		if err := q.Ack(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := q.Len(ctx); n != 0 {
		t.Fatalf("Len after ack = %d", n)
	}
}

func testDeadConsumer(t *testing.T, open Open) {
	ctx := context.Background()
	q := open(t, 50*time.Millisecond)
	if err := q.Add(ctx, job("http://a/dead")); err != nil {
		t.Fatal(err)
	}
	first, err := q.Read(ctx, "dead", 1, 0)
	if err != nil || len(first) != 1 {
		t.Fatalf("Read = %v, %v", first, err)
	}
	// "dead" never acks; another consumer must get the job once it idles.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := q.Read(ctx, "alive", 1, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			if got[0].URL != "http://a/dead" {
				t.Fatalf("got %+v", got[0])
			}
			if err := q.Ack(ctx, got[0].ID); err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("job of a dead consumer never moved")
		}
	}
}

func testReadBlocks(t *testing.T, open Open) {
	ctx := context.Background()
	q := open(t, time.Hour)
	done := make(chan []webhooks.Job, 1)
	go func() {
		jobs, _ := q.Read(ctx, "c1", 1, 20*time.Second)
		done <- jobs
	}()
	if err := q.Add(ctx, job("http://a/late")); err != nil {
		t.Fatal(err)
	}
	select {
	case jobs := <-done:
		// A Read that started after Add returns it too; either way one job.
		if len(jobs) != 1 {
			t.Fatalf("Read = %+v", jobs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("blocked Read never returned")
	}
}
