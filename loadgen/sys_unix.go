//go:build unix

package loadgen

import "syscall"

// openFileLimit is the soft limit on open files, or 0 if unknown.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return uint64(rl.Cur)
}
