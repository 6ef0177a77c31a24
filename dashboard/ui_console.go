package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// LiveActivity streams an app's live activity, from every node, to the
// debug console; cmd/switchboard passes *activity.Feed.
type LiveActivity interface {
	// Watch opens a stream of appID's activity, each entry one JSON
	// object (bus.Activity), until stop is called; the channel is closed
	// then, or when the feed closes.
	Watch(appID string) (entries <-chan []byte, stop func())
	// Done is closed when the node shuts down: open streams end so that
	// the HTTP server's graceful shutdown need not wait for them.
	Done() <-chan struct{}
}

// EventPublisher is the normal publish path, as the Pusher HTTP API uses
// it (bus.Publisher with the app's history retention), for the console's
// event creator.
type EventPublisher interface {
	Publish(ctx context.Context, appID string, channels []string, event string, data []byte, excludeSocketID string) error
}

type consolePage struct {
	App        *tenants.App
	Available  bool // a feed is wired
	CanPublish bool // the event creator is offered
	Channel    string
	Event      string
	Data       string
}

func (u *UI) console(w http.ResponseWriter, q *uiRequest) {
	u.renderConsole(w, q, http.StatusOK, page{Notice: notice(q)}, consolePage{Channel: "my-channel", Event: "my-event", Data: `{"message":"hello world"}`})
}

func (u *UI) renderConsole(w http.ResponseWriter, q *uiRequest, status int, p page, d consolePage) {
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, q.r.PathValue("app_id"))
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	d.App = app
	d.Available = u.opts.Activity != nil
	d.CanPublish = q.user.Role.CanWrite() && u.opts.Publisher != nil
	p.Title, p.Nav, p.Tab, p.Script, p.Data = "Debug console · "+app.Name, "apps", "console", "console.js", d
	p.AppID, p.AppName = app.ID, app.Name
	u.render(w, q, status, "console", p)
}

// consoleStream is the console's Server-Sent Events stream: one "data:"
// line per activity entry. It ends when the client goes, the node shuts
// down, or the session is no longer valid (checked at each heartbeat).
func (u *UI) consoleStream(w http.ResponseWriter, q *uiRequest) {
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, q.r.PathValue("app_id"))
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	if u.opts.Activity == nil {
		u.renderError(w, q, http.StatusServiceUnavailable, "The debug console is not available on this server.")
		return
	}
	entries, stop := u.opts.Activity.Watch(app.ID)
	defer stop()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(s ...[]byte) bool {
		for _, b := range s {
			if _, err := w.Write(b); err != nil {
				return false
			}
		}
		return true
	}
	if !write([]byte("retry: 3000\nevent: ready\ndata: {}\n\n")) || rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(u.opts.StreamHeartbeat)
	defer tick.Stop()
	done := u.opts.Activity.Done()
	shuttingDown := func() {
		write([]byte("event: end\ndata: {\"reason\":\"the server is shutting down\"}\n\n"))
		_ = rc.Flush()
	}
	for {
		select {
		case <-q.ctx().Done():
			return
		case <-done:
			shuttingDown()
			return
		case e, ok := <-entries:
			if !ok {
				// Closing the feed also closes every watcher's entries:
				// this case can win the select against done.
				select {
				case <-done:
					shuttingDown()
				default:
				}
				return
			}
			if !write([]byte("data: "), e, []byte("\n\n")) {
				return
			}
			// Whatever else is queued goes in the same flush.
			for more := true; more; {
				select {
				case e, ok := <-entries:
					if !ok {
						more = false // the outer select sees the close
						break
					}
					if !write([]byte("data: "), e, []byte("\n\n")) {
						return
					}
				default:
					more = false
				}
			}
			if rc.Flush() != nil {
				return
			}
		case <-tick.C:
			if !u.stillAllowed(q, app.ID) {
				write([]byte("event: end\ndata: {\"reason\":\"signed out\"}\n\n"))
				_ = rc.Flush()
				return
			}
			if !write([]byte(": ping\n\n")) || rc.Flush() != nil {
				return
			}
		}
	}
}

// stillAllowed checks again, during a long stream, that the session lives
// and its tenant still owns the app (a removed member, a sign-out, an
// expired session or a deleted app ends the stream).
func (u *UI) stillAllowed(q *uiRequest, appID string) bool {
	again := &uiRequest{r: q.r, now: u.opts.Now()}
	if !u.loadSession(again) || again.user.ID != q.user.ID || again.tenant.ID != q.tenant.ID {
		return false
	}
	_, err := u.store.TenantApp(q.ctx(), q.tenant.ID, appID)
	return err == nil
}

// sendEvent is the console's event creator: it publishes one event to a
// channel through the same path as the HTTP API, so subscribed clients
// receive it on every node. Data must be JSON; it goes out as a string,
// as the HTTP API sends it (pusher-js parses it back).
func (u *UI) sendEvent(w http.ResponseWriter, q *uiRequest) {
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, q.r.PathValue("app_id"))
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	d := consolePage{Channel: strings.TrimSpace(q.r.PostForm.Get("channel")), Event: strings.TrimSpace(q.r.PostForm.Get("event")),
		Data: strings.TrimSpace(q.r.PostForm.Get("data"))}
	fail := func(status int, field, msg string) {
		if wantsJSON(q.r) {
			writeJSON(w, status, map[string]string{"error": msg, "field": field})
			return
		}
		u.renderConsole(w, q, status, page{Field: field, Error: msg}, d)
	}
	switch {
	case u.opts.Publisher == nil:
		fail(http.StatusServiceUnavailable, "", "The event creator is not available on this server.")
		return
	case !app.Enabled:
		fail(http.StatusConflict, "", "The app is disabled: enable it to send events.")
		return
	case !protocol.ValidChannelName(d.Channel, app.MaxChannelNameLength):
		fail(http.StatusBadRequest, "channel", "Channel: 1 to "+strconv.Itoa(app.MaxChannelNameLength)+" characters from A-Z a-z 0-9 _ - = @ , . ;")
		return
	case d.Event == "" || len(d.Event) > app.MaxEventNameLength:
		fail(http.StatusBadRequest, "event", "Event: 1 to "+strconv.Itoa(app.MaxEventNameLength)+" characters.")
		return
	case strings.HasPrefix(d.Event, "pusher:") || strings.HasPrefix(d.Event, "pusher_internal:"):
		fail(http.StatusBadRequest, "event", "Event: names starting with pusher: are the protocol's own.")
		return
	case !json.Valid([]byte(d.Data)):
		fail(http.StatusBadRequest, "data", `Data must be JSON, e.g. {"message":"hello"} or "text".`)
		return
	case len(d.Data) > app.MaxEventPayloadBytes():
		fail(http.StatusBadRequest, "data", "Data: at most "+strconv.Itoa(app.MaxEventPayloadBytes())+" bytes.")
		return
	}
	payload := protocol.AppendJSONString(nil, d.Data)
	if err := u.opts.Publisher.Publish(q.ctx(), app.ID, []string{d.Channel}, d.Event, payload, ""); err != nil {
		u.log.Error("dashboard event creator: publish", "app_id", app.ID, "channel", d.Channel, "err", err)
		fail(http.StatusServiceUnavailable, "", "The event could not be published; try again.")
		return
	}
	u.log.Info("dashboard event sent", "app_id", app.ID, "channel", d.Channel, "event", d.Event, "actor", q.actor())
	if wantsJSON(q.r) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	redirect(w, q, appPath(app.ID)+"/console?done=event-sent")
}

// wantsJSON is true for the console's script, which posts the form with
// fetch so the page (and its stream) stays.
func wantsJSON(r *http.Request) bool { return r.Header.Get("Accept") == "application/json" }
