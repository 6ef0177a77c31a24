package redisbus

import (
	"strconv"
	"strings"
)

// keySlot is Redis Cluster's hash slot of a key or shard channel: CRC16
// (XMODEM) of its hash tag, or of the whole name when it has none, mod
// 16384. go-redis has it only internally; the bus needs it to know which
// of a shard's channels a MOVED reply is about.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// movedSlot reads the slot of a "MOVED <slot> <host:port>" error.
func movedSlot(msg string) (int, bool) {
	f := strings.Fields(msg)
	if len(f) != 3 || f[0] != "MOVED" {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	return n, err == nil && n >= 0 && n < 16384
}
