package bus

import (
	"context"
	"time"
)

// HistoryOptions say what a channel keeps of its sequenced events, for
// clients that resubscribe after missing some and for the history API.
// Each Message carries its app's (Message.History: retention is per app
// and opt-in); a bus is given the server's ceiling, which bounds every
// app's.
type HistoryOptions struct {
	// Length is how many events each channel keeps; 0 keeps none.
	Length int
	// MaxAge drops events older than this; 0: only Length bounds them.
	MaxAge time.Duration
}

// Within returns h bounded by ceiling: the shorter length and the shorter
// age, zero when either keeps nothing.
func (h HistoryOptions) Within(ceiling HistoryOptions) HistoryOptions {
	h.Length = min(h.Length, ceiling.Length)
	if h.Length <= 0 {
		return HistoryOptions{}
	}
	if ceiling.MaxAge > 0 && (h.MaxAge <= 0 || h.MaxAge > ceiling.MaxAge) {
		h.MaxAge = ceiling.MaxAge
	}
	return h
}

// Retained is what the bus holds of a channel's current epoch.
type Retained struct {
	Epoch string
	// Oldest is the first position still held (0: none), Newest the last
	// position given out in the epoch (0: the channel has none).
	Oldest, Newest uint64
	// Events are the held events after the position asked for, oldest
	// first, with their positions set.
	Events []*Message
}

// History reads what a bus keeps.
type History interface {
	// Since returns up to limit events of the channel's current epoch
	// after position after (0: from the oldest held).
	Since(ctx context.Context, appID, channel string, after uint64, limit int) (Retained, error)
}

// Recoverable reports whether a subscriber that saw position seq of
// epoch can be given everything it missed from r (fetched with
// after = seq): same epoch, and nothing between seq and what is held has
// been dropped.
func (r Retained) Recoverable(epoch string, seq uint64) bool {
	if r.Epoch == "" {
		return seq == 0 // the channel's count is gone, and with it what followed seq
	}
	if epoch != r.Epoch || seq > r.Newest {
		return false
	}
	return seq == r.Newest || (r.Oldest != 0 && r.Oldest <= seq+1)
}
