//go:build !linux

package rawsock

import "syscall"

// Elsewhere sockets are read and written through net.Conn.
const supported = false

type iovec struct{ Base *byte } // the shape the tests look at

func rawRead(uintptr, []byte) (int, syscall.Errno) { return 0, syscall.EINVAL }

func rawWrite(_ uintptr, _ [][]byte, iov []iovec) (int, []iovec, syscall.Errno) {
	return 0, iov, syscall.EINVAL
}
