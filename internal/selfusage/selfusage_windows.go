//go:build windows

package selfusage

import (
	"syscall"
	"time"
)

func cpu() (user, sys time.Duration) {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0, 0
	}
	var creation, exit, kernel, usr syscall.Filetime
	if syscall.GetProcessTimes(h, &creation, &exit, &kernel, &usr) != nil {
		return 0, 0
	}
	return filetimeDuration(usr), filetimeDuration(kernel)
}

// filetimeDuration reads a FILETIME that holds an amount of time (in 100 ns
// units), not a date.
func filetimeDuration(f syscall.Filetime) time.Duration {
	return time.Duration(uint64(f.HighDateTime)<<32|uint64(f.LowDateTime)) * 100
}

// The peak working set needs psapi's GetProcessMemoryInfo, which package
// syscall does not wrap; the figure is optional everywhere it is shown.
func maxRSSKiB() int64 { return 0 }
