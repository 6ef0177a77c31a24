// Package selfusage reads this process's own resource use — CPU time and
// peak resident memory — on every platform the binary builds for. The edge
// decides on coalescing from its CPU share, and the load generator reports
// its own cost on every run; both read it here.
package selfusage

import "time"

// CPU is the process's user and system CPU time so far, over every thread.
// Both are zero where the system does not say.
func CPU() (user, sys time.Duration) { return cpu() }

// MaxRSSKiB is the process's peak resident set in KiB, or 0 where the
// system does not say.
func MaxRSSKiB() int64 { return maxRSSKiB() }
