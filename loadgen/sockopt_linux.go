package loadgen

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT from linux/in.h (Linux
// 4.2+), absent from package syscall.
const ipBindAddressNoPort = 24

// bindAddressNoPort defers the choice of a bound socket's source port to
// connect(), so a source address is limited by 4-tuples rather than by its
// ephemeral ports alone.
func bindAddressNoPort(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
}
