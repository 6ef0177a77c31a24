package rawsock

import (
	"syscall"
	"unsafe"
)

const supported = true

type iovec = syscall.Iovec

// maxIovecs is Linux's IOV_MAX: writev refuses more buffers in one call.
const maxIovecs = 1024

func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errno
}

// rawWrite makes one write or writev of the front of bufs, with iov as
// writev's scratch (returned for reuse).
func rawWrite(fd uintptr, bufs [][]byte, iov []iovec) (int, []iovec, syscall.Errno) {
	if len(bufs) == 1 {
		b := bufs[0]
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		return int(n), iov, errno
	}
	iov = iov[:0]
	for _, b := range bufs {
		if len(iov) == maxIovecs {
			break
		}
		if len(b) == 0 {
			continue
		}
		v := syscall.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	clear(iov) // the buffers must not outlive their write here
	return int(n), iov[:0], errno
}
