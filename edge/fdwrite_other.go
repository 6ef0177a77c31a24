//go:build !linux

package edge

import "syscall"

// Elsewhere sockets are written through net.Conn.
const rawWritesSupported = false

func (w *fdWriter) writeOnce(uintptr) (int, syscall.Errno) { return 0, syscall.EINVAL }
