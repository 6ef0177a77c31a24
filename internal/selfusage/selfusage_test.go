package selfusage

import (
	"runtime"
	"testing"
	"time"
)

func TestCPUGrowsWithWork(t *testing.T) {
	u0, s0 := CPU()
	// Spin until the clock moves: how long that takes is the system's
	// accounting granularity (a tick at worst), not something to assert.
	deadline := time.Now().Add(30 * time.Second)
	x := 0
	for i := 0; ; i++ {
		x += i
		if i%1_000_000 != 0 {
			continue
		}
		if u1, s1 := CPU(); u1+s1 > u0+s0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU() stayed at %v after 30 s of work", u0+s0)
		}
	}
	runtime.KeepAlive(x)
}

func TestMaxRSSIsPlausible(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("not reported on Windows")
	}
	// A Go test binary has at least a megabyte resident and far less than a
	// terabyte; a unit mistake (bytes for KiB) lands outside.
	if kib := MaxRSSKiB(); kib < 1<<10 || kib > 1<<30 {
		t.Fatalf("MaxRSSKiB() = %d", kib)
	}
}
