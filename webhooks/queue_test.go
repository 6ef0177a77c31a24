package webhooks_test

import (
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/webhooks"
	"github.com/switchboard-rt/switchboard/webhooks/queuetest"
)

func TestMemoryQueue(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, claimIdle time.Duration) webhooks.Queue {
		return webhooks.NewMemoryQueue(claimIdle)
	})
}

func TestMemoryAttempts(t *testing.T) {
	queuetest.RunAttempts(t, func(t *testing.T, size int) webhooks.AttemptLog { return webhooks.NewAttempts(size) })
}
