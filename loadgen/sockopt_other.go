//go:build !linux

package loadgen

// bindAddressNoPort: IP_BIND_ADDRESS_NO_PORT is Linux's; elsewhere each
// source address is limited by its ephemeral ports.
func bindAddressNoPort(uintptr) {}
