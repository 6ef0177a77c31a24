package redisbus

import "time"

var (
	Encode = encode
	Decode = decode
)

// SetRatesClock makes r read the time from now.
func SetRatesClock(r *Rates, now func() time.Time) { r.now = now }

var KeySlot = keySlot

// HistoryKey is the stream holding a channel's history.
func (b *Bus) HistoryKey(appID, channel string) string {
	return b.positionKeys(b.channelTopic(appID, channel))[2]
}
