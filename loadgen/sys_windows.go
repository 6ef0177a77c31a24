//go:build windows

package loadgen

// openFileLimit: Windows sets no per-process limit on sockets that a
// budget must respect (0: unknown, see fdBudget).
func openFileLimit() uint64 { return 0 }

// bindAddressNoPort: IP_BIND_ADDRESS_NO_PORT is Linux's; elsewhere each
// source address is limited by its ephemeral ports.
func bindAddressNoPort(uintptr) {}
