package restapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// channelParam is the channel named in the path, decoded once and
// checked against the channel name rules.
func channelParam(c echo.Context, app *tenants.App) (string, error) {
	name, ok := pathParam(c, "channel_name")
	if !ok || !protocol.ValidChannelName(name, maxChannelName(app)) {
		return "", badRequest(fmt.Sprintf("invalid channel name %q", truncate(c.Param("channel_name"), 200)))
	}
	return name, nil
}

// listChannels is GET /apps/{app_id}/channels: occupied channels only,
// never the #server-to-user- ones.
func (a *API) listChannels(c echo.Context, auth *authed) error {
	app := auth.app
	if err := a.allowRead(c.Request().Context(), app); err != nil {
		return err
	}
	q := &auth.query
	prefix := q.Get("filter_by_prefix")
	info, err := parseInfo(q.Get("info"))
	if err != nil {
		return err
	}
	if info.userCount && !strings.HasPrefix(prefix, "presence-") {
		return badRequest("user_count may only be requested for presence channels: add filter_by_prefix=presence-")
	}
	chans, err := a.opts.State.Channels(c.Request().Context(), app.ID, prefix)
	if err != nil {
		return fmt.Errorf("restapi: list channels: %w", err)
	}
	out := make(map[string]channelCounts, len(chans))
	for name, n := range chans {
		if strings.HasPrefix(name, protocol.ServerToUserPrefix) {
			continue
		}
		var cc channelCounts
		if info.userCount {
			cc.UserCount = &n.Users
		}
		if info.subscriptionCount {
			cc.SubscriptionCount = &n.Subscriptions
		}
		out[name] = cc
	}
	return c.JSON(http.StatusOK, struct {
		Channels map[string]channelCounts `json:"channels"`
	}{out})
}

// channelInfo is the answer of GET /apps/{app_id}/channels/{channel_name}.
type channelInfo struct {
	Occupied          bool        `json:"occupied"`
	UserCount         *int        `json:"user_count,omitempty"`
	SubscriptionCount *int        `json:"subscription_count,omitempty"`
	Cache             *cachedInfo `json:"cache,omitempty"`
}

type cachedInfo struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"` // the cached JSON string, as published
	TTL   int             `json:"ttl"`  // seconds remaining
}

// readChannel is the start of every single-channel query: the read rate
// limit, then the channel name from the path.
func (a *API) readChannel(c echo.Context, app *tenants.App) (*tenants.App, string, error) {
	if err := a.allowRead(c.Request().Context(), app); err != nil {
		return nil, "", err
	}
	name, err := channelParam(c, app)
	return app, name, err
}

// getChannel is GET /apps/{app_id}/channels/{channel_name}.
func (a *API) getChannel(c echo.Context, auth *authed) error {
	app, name, err := a.readChannel(c, auth.app)
	if err != nil {
		return err
	}
	info, err := parseInfo(auth.query.Get("info"))
	if err != nil {
		return err
	}
	kind := protocol.Classify(name)
	if info.userCount && kind.Kind != protocol.KindPresence {
		return badRequest("user_count may only be requested for presence channels")
	}
	ctx := c.Request().Context()
	n, err := a.opts.State.Channel(ctx, app.ID, name)
	if err != nil {
		return fmt.Errorf("restapi: channel: %w", err)
	}
	out := channelInfo{Occupied: n.Subscriptions > 0}
	if info.userCount {
		out.UserCount = &n.Users
	}
	if info.subscriptionCount {
		out.SubscriptionCount = &n.Subscriptions
	}
	if info.cache && kind.Cache {
		ev, ok, err := a.opts.State.Cache(ctx, app.ID, name)
		if err != nil {
			return fmt.Errorf("restapi: channel cache: %w", err)
		}
		if ok {
			out.Cache = &cachedInfo{Event: ev.Event, Data: cachedData(ev.Data), TTL: ttlSeconds(ev.Expires)}
		}
	}
	return c.JSON(http.StatusOK, out)
}

// cachedData is the cached event's data as a JSON string: as published
// through the API it already is one; anything else is wrapped.
func cachedData(raw []byte) json.RawMessage {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return raw
	}
	if json.Valid(raw) {
		return protocol.AppendJSONString(nil, string(raw))
	}
	return json.RawMessage(`""`)
}

// ttlSeconds is the time left until expires, rounded up, on the real
// clock: the shared state stamps Expires from its own clock.
func ttlSeconds(expires time.Time) int {
	return max(0, int(math.Ceil(time.Until(expires).Seconds())))
}

type user struct {
	ID string `json:"id"`
}

// channelUsers is GET /apps/{app_id}/channels/{channel_name}/users: the
// distinct user ids of a presence channel, without user_info.
func (a *API) channelUsers(c echo.Context, auth *authed) error {
	app, name, err := a.readChannel(c, auth.app)
	if err != nil {
		return err
	}
	if protocol.Classify(name).Kind != protocol.KindPresence {
		return badRequest("users are only available for presence channels (presence-)")
	}
	members, err := a.opts.State.Members(c.Request().Context(), app.ID, name)
	if err != nil {
		return fmt.Errorf("restapi: channel users: %w", err)
	}
	users := make([]user, len(members))
	for i, m := range members {
		users[i] = user{ID: m.UserID}
	}
	slices.SortFunc(users, func(x, y user) int { return strings.Compare(x.ID, y.ID) })
	return c.JSON(http.StatusOK, struct {
		Users []user `json:"users"`
	}{users})
}

// terminateUser is POST /apps/{app_id}/users/{user_id}/terminate_connections:
// every connection signed in as the user, on every node, is closed. An
// unknown or offline user is still a 200.
func (a *API) terminateUser(c echo.Context, auth *authed) error {
	app := auth.app
	userID, ok := pathParam(c, "user_id")
	if !ok || userID == "" || len(userID) > protocol.DefaultMaxUserIDLength || !utf8.ValidString(userID) {
		return badRequest(fmt.Sprintf("invalid user id %q: 1 to %d bytes of UTF-8", truncate(c.Param("user_id"), 200), protocol.DefaultMaxUserIDLength))
	}
	if err := a.opts.Publisher.TerminateUser(c.Request().Context(), app.ID, userID); err != nil {
		return a.unavailable(c, "terminate_connections", err)
	}
	return c.JSONBlob(http.StatusOK, emptyObject)
}
