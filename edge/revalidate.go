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
//
// A socket that stays gets the app as it now is for its webhook decisions
// (conn.webhookApp), so webhooks changed while it is connected apply to
// it too.
func (s *Server) Revalidate(ctx context.Context, ch tenants.Change) {
	type verdict struct {
		app *tenants.App
		err *protocol.Error
	}
	verdicts := map[string]verdict{}
	for _, c := range s.snapshot() {
		if !ch.Touches(c.app.ID) {
			continue
		}
		v, ok := verdicts[c.key]
		if !ok {
			v.app, v.err = s.recheck(ctx, c.app.ID, c.key)
			verdicts[c.key] = v
		}
		if v.err != nil {
			c.closeWith(v.err)
		} else if v.app != nil {
			c.current.Store(v.app)
		}
	}
}

// recheck looks key up again; it returns the app when the socket may stay
// and the lookup worked, the error to close it with when it may not.
func (s *Server) recheck(ctx context.Context, appID, key string) (*tenants.App, *protocol.Error) {
	app, err := s.opts.Apps.AppByKey(ctx, key)
	switch {
	case errors.Is(err, tenants.ErrNotFound):
		return nil, protocol.ErrAppNotFound.WithMessage("App key " + truncate(key, 64) + " is no longer active")
	case err != nil:
		s.log.Warn("revalidation lookup failed; sockets kept", "app_id", appID, "err", err)
		return nil, nil
	case app.ID != appID:
		return nil, protocol.ErrAppNotFound.WithMessage("App key " + truncate(key, 64) + " is no longer active")
	case !app.Enabled:
		return nil, protocol.ErrAppDisabled
	}
	return app, nil
}
