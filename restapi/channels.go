package restapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

func channelParam(c echo.Context, app *tenants.App) (string, error) {
	name, err := url.PathUnescape(c.Param("channel_name"))
	if err != nil || !protocol.ValidChannelName(name, app.MaxChannelNameLength) {
		return "", badRequest(fmt.Sprintf("invalid channel name %q", truncate(c.Param("channel_name"), 200)))
	}
	return name, nil
}

// listChannels is GET /apps/{app_id}/channels: occupied channels only.
func (a *API) listChannels(c echo.Context) error {
	app := appOf(c)
	if err := a.allowRead(app); err != nil {
		return err
	}
	prefix := c.QueryParam("filter_by_prefix")
	info, err := parseInfo(c.QueryParam("info"))
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
	out := make(map[string]map[string]int, len(chans))
	for name, counts := range chans {
		if strings.HasPrefix(name, protocol.ServerToUserPrefix) {
			continue
		}
		m := map[string]int{}
		if info.userCount {
			m["user_count"] = counts.Users
		}
		if info.subscriptionCount {
			m["subscription_count"] = counts.Subscriptions
		}
		out[name] = m
	}
	return c.JSON(http.StatusOK, map[string]any{"channels": out})
}

// getChannel is GET /apps/{app_id}/channels/{channel_name}.
func (a *API) getChannel(c echo.Context) error {
	app := appOf(c)
	if err := a.allowRead(app); err != nil {
		return err
	}
	name, err := channelParam(c, app)
	if err != nil {
		return err
	}
	info, err := parseInfo(c.QueryParam("info"))
	if err != nil {
		return err
	}
	kind := protocol.Classify(name)
	if info.userCount && kind.Kind != protocol.KindPresence {
		return badRequest("user_count may only be requested for presence channels")
	}
	ctx := c.Request().Context()
	counts, err := a.opts.State.Channel(ctx, app.ID, name)
	if err != nil {
		return fmt.Errorf("restapi: channel: %w", err)
	}
	out := map[string]any{"occupied": counts.Subscriptions > 0}
	if info.userCount {
		out["user_count"] = counts.Users
	}
	if info.subscriptionCount {
		out["subscription_count"] = counts.Subscriptions
	}
	if info.cache && kind.Cache {
		ev, ok, err := a.opts.State.Cache(ctx, app.ID, name)
		if err != nil {
			return fmt.Errorf("restapi: channel cache: %w", err)
		}
		if ok {
			var data string
			_ = jsonUnmarshalString(ev.Data, &data)
			out["cache"] = map[string]any{"event": ev.Event, "data": data, "ttl": int(time.Until(ev.Expires).Seconds())}
		}
	}
	return c.JSON(http.StatusOK, out)
}

// channelUsers is GET /apps/{app_id}/channels/{channel_name}/users.
func (a *API) channelUsers(c echo.Context) error {
	app := appOf(c)
	if err := a.allowRead(app); err != nil {
		return err
	}
	name, err := channelParam(c, app)
	if err != nil {
		return err
	}
	if protocol.Classify(name).Kind != protocol.KindPresence {
		return badRequest("users are only available for presence channels")
	}
	members, err := a.opts.State.Members(c.Request().Context(), app.ID, name)
	if err != nil {
		return fmt.Errorf("restapi: channel users: %w", err)
	}
	users := make([]map[string]string, len(members))
	for i, m := range members {
		users[i] = map[string]string{"id": m.UserID}
	}
	sort.Slice(users, func(i, j int) bool { return users[i]["id"] < users[j]["id"] })
	return c.JSON(http.StatusOK, map[string]any{"users": users})
}

// terminateUser is POST /apps/{app_id}/users/{user_id}/terminate_connections.
func (a *API) terminateUser(c echo.Context) error {
	app := appOf(c)
	user, err := url.PathUnescape(c.Param("user_id"))
	if err != nil || user == "" {
		return badRequest("invalid user id")
	}
	if err := a.allowPublish(app, 1); err != nil {
		return err
	}
	if err := a.opts.Publisher.TerminateUser(c.Request().Context(), app.ID, user); err != nil {
		return fmt.Errorf("restapi: terminate user: %w", err)
	}
	return c.JSONBlob(http.StatusOK, []byte("{}"))
}

func jsonUnmarshalString(raw []byte, s *string) error { return json.Unmarshal(raw, s) }
