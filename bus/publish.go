package bus

import (
	"context"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
)

// DefaultCacheTTL is how long a cache channel keeps its last event
// (Pusher documents 30 minutes).
const DefaultCacheTTL = 30 * time.Minute

// Publisher is the one publish entry point of the API: it stores the event
// of cache channels and hands each channel's message to the bus. It never
// waits for subscribers.
type Publisher struct {
	Bus      Bus
	State    State
	CacheTTL time.Duration
}

// Publish sends event with data (a raw JSON value) to every channel,
// leaving out the connection excludeSocketID; each channel keeps it as
// history (the app's retention) says.
func (p *Publisher) Publish(ctx context.Context, appID string, history HistoryOptions, channels []string, event string, data []byte, excludeSocketID string) error {
	for _, ch := range channels {
		if protocol.Classify(ch).Cache {
			ttl := p.CacheTTL
			if ttl <= 0 {
				ttl = DefaultCacheTTL
			}
			if err := p.State.SetCache(ctx, appID, ch, CachedEvent{Event: event, Data: data}, ttl); err != nil {
				return err
			}
		}
		msg := &Message{Kind: KindEvent, AppID: appID, Channel: ch, Event: event, Data: data, ExcludeSocketID: excludeSocketID, History: history}
		if err := p.Bus.Publish(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

// TerminateUser closes every connection of userID in the app, on every node.
func (p *Publisher) TerminateUser(ctx context.Context, appID, userID string) error {
	return p.Bus.Publish(ctx, &Message{Kind: KindTerminateUser, AppID: appID, UserID: userID})
}
