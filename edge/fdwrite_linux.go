package edge

import (
	"syscall"
	"unsafe"
)

const rawWritesSupported = true

// maxIovecs is Linux's IOV_MAX: writev refuses more buffers in one call.
const maxIovecs = 1024

// writeOnce makes one write or writev of the front of bufs. Raw system
// calls: see fdWriter.
func (w *fdWriter) writeOnce(fd uintptr) (int, syscall.Errno) {
	if len(w.bufs) == 1 {
		b := w.bufs[0]
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		return int(n), errno
	}
	iov := w.iov[:0]
	for _, b := range w.bufs {
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
	clear(iov) // the frames must not outlive their queue here
	w.iov = iov[:0]
	return int(n), errno
}
