package restapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/tenants"
)

// History paging: at most this many events per answer.
const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 1000
)

type historyPage struct {
	Epoch  string `json:"epoch"`
	Oldest uint64 `json:"oldest"`
	Newest uint64 `json:"newest"`
	// Events after the position asked for, oldest first.
	Events []historyEvent `json:"events"`
	// NextAfter is the `after` of the next page, when there is more.
	NextAfter *uint64 `json:"next_after,omitempty"`
}

type historyEvent struct {
	Seq    uint64          `json:"seq"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	UserID string          `json:"user_id,omitempty"`
}

// historyOf is what the app's channels keep of its events (its settings
// after its plan's caps; the bus applies the server's ceiling).
func historyOf(app *tenants.App) bus.HistoryOptions {
	n, age := app.HistoryRetention()
	return bus.HistoryOptions{Length: n, MaxAge: age}
}

// channelHistory is GET /apps/{app_id}/channels/{channel_name}/history
// ?after=<seq>&limit=<n> (Switchboard's extension): the events the channel
// keeps (the app's history_max_events and history_max_age_seconds), paged
// by position within the current epoch. Encrypted channels keep what was
// published: ciphertext. An app whose history is off gets 404
// history_disabled rather than an empty page that would look like a quiet
// channel.
func (a *API) channelHistory(c echo.Context, auth *authed) error {
	app, name, err := a.readChannel(c, auth.app)
	if err != nil {
		return err
	}
	if !app.HistoryEnabled() {
		return fail(http.StatusNotFound, codeHistoryDisabled, "history is off for this app: its channels keep no events "+
			"(set history_max_events in the app's settings; its plan may allow none)")
	}
	q := &auth.query
	after, limit := uint64(0), defaultHistoryLimit
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badRequest("after must be a position (a whole number), got " + strconv.Quote(truncate(v, 40)))
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxHistoryLimit {
			return badRequest(fmt.Sprintf("limit must be between 1 and %d, got %s", maxHistoryLimit, strconv.Quote(truncate(v, 40))))
		}
	}
	var r bus.Retained
	if a.opts.History != nil {
		// One more than asked tells whether another page follows.
		if r, err = a.opts.History.Since(c.Request().Context(), app.ID, name, after, limit+1); err != nil {
			return fmt.Errorf("restapi: history: %w", err)
		}
	}
	page := historyPage{Epoch: r.Epoch, Oldest: r.Oldest, Newest: r.Newest, Events: make([]historyEvent, 0, min(len(r.Events), limit))}
	for i, m := range r.Events {
		if i == limit {
			next := page.Events[i-1].Seq
			page.NextAfter = &next
			break
		}
		page.Events = append(page.Events, historyEvent{Seq: m.Seq, Event: m.Event, Data: m.Data, UserID: m.UserID})
	}
	return c.JSON(http.StatusOK, page)
}
