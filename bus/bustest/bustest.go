// Package bustest is the conformance suite for bus.State and bus.Bus: the
// memory implementations and bus/redisbus must pass it unchanged, so the
// embedded default and production behave alike.
//
// Every subtest calls open once and works under its own app id (the test
// name plus a random suffix), so runs that share a backend — parallel
// packages, -count=N, a second CI job on the same Redis — never see each
// other's channels. Nothing waits with a fixed sleep: what may arrive
// asynchronously is polled for with a deadline.
//
// It imports bus, protocol and the tests' polling helper only.
package bustest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testwait"
)

// waitFor bounds how long an asynchronous implementation may take to
// deliver or expire something. Generous, because -race on a busy CI
// machine is slow; a passing test returns as soon as the condition holds.
const waitFor = 5 * time.Second

// uniqueApp returns an app id of this test alone, readable in a backend's
// keys: "TestMemoryState-Cache-3f9a0c1d2e4b".
func uniqueApp(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := strings.NewReplacer("/", "-", " ", "_", ":", "_").Replace(t.Name())
	return name + "-" + hex.EncodeToString(b[:])
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	testwait.Eventually(t, d, f)
}
