package edge

import (
	"context"
	"errors"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// Revalidate re-checks the live sockets a control-plane change concerns
// (cmd/switchboard registers it with tenants.Directory.OnChange): each
// distinct key in use is looked up again, and the sockets of an app now
// disabled (or whose tenant is suspended) are closed with 4003, those
// whose key is revoked or whose app is gone with 4001. Both codes tell
// pusher-js not to reconnect.
//
// It runs on the feed's goroutine, never on a socket's; lookups go
// through the Directory, so a change costs one store read per key in
// use, not one per socket. A lookup that fails for another reason
// (database trouble) leaves the sockets alone.
func (s *Server) Revalidate(ctx context.Context, ch tenants.Change) {
	verdicts := map[string]*protocol.Error{}
	for _, c := range s.snapshot() {
		if !ch.Touches(c.app.ID) {
			continue
		}
		v, ok := verdicts[c.key]
		if !ok {
			v = s.recheck(ctx, c.app.ID, c.key)
			verdicts[c.key] = v
		}
		if v != nil {
			c.closeWith(v)
		}
	}
}

func (s *Server) recheck(ctx context.Context, appID, key string) *protocol.Error {
	app, err := s.opts.Apps.AppByKey(ctx, key)
	switch {
	case errors.Is(err, tenants.ErrNotFound):
		return protocol.ErrAppNotFound.WithMessage("App key " + truncate(key, 64) + " is no longer active")
	case err != nil:
		s.log.Warn("revalidation lookup failed; sockets kept", "app_id", appID, "err", err)
		return nil
	case app.ID != appID:
		return protocol.ErrAppNotFound.WithMessage("App key " + truncate(key, 64) + " is no longer active")
	case !app.Enabled:
		return protocol.ErrAppDisabled
	}
	return nil
}
