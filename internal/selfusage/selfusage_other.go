//go:build !unix && !windows

package selfusage

import "time"

func cpu() (user, sys time.Duration) { return 0, 0 }

func maxRSSKiB() int64 { return 0 }
