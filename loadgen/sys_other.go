//go:build !unix

package loadgen

// openFileLimit: outside Unix (Windows) there is no per-process limit on
// sockets for package syscall to read (0: unknown, see fdBudget).
func openFileLimit() uint64 { return 0 }
