// Package stripetest starts stripe-mock for tests that drive the real
// stripe-go client: Stripe's own mock server, never a fake of ours.
package stripetest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Start runs stripe-mock (v0.203.0, installed by `go install
// github.com/stripe/stripe-mock@v0.203.0`, as .ci/run does) on a free
// loopback port until the test ends and returns its URL. Without the
// binary the test skips, except under CI=true, where it fails.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		out, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(out)), "bin", "stripe-mock")
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("stripe-mock not installed: %v", err)
			}
			t.Skipf("stripe-mock not installed: %v", err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// -https-addr too: stripe-mock otherwise also binds :12112, and a
	// second one running at the same time (another package's tests) exits.
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a process we started; nothing to wait on
	}
}
