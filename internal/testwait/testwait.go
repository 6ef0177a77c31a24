// Package testwait is the one polling helper of the tests: wait for a
// condition that another goroutine, process or server brings about,
// without sleeping a fixed time.
package testwait

import (
	"testing"
	"time"
)

// Eventually polls f until it returns nil, and fails the test with f's
// last error once d has passed.
func Eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Until is Eventually for a condition without an error to report.
func Until(t testing.TB, d time.Duration, ok func() bool) {
	t.Helper()
	Eventually(t, d, func() error {
		if ok() {
			return nil
		}
		return errNotYet
	})
}

type notYet struct{}

func (notYet) Error() string { return "condition not met" }

var errNotYet error = notYet{}
