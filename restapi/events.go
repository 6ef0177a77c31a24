package restapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// eventRequest is one event of POST /events or of a batch.
type eventRequest struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channels []string        `json:"channels"`
	Channel  string          `json:"channel"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

// event is a validated event ready to publish.
type event struct {
	name     string
	data     []byte // the JSON string literal delivered as the frame's data
	channels []string
	socketID string
	info     infoAttrs
}

type infoAttrs struct{ userCount, subscriptionCount, cache bool }

func parseInfo(s string) (infoAttrs, error) {
	var in infoAttrs
	for _, a := range strings.Split(s, ",") {
		switch strings.TrimSpace(a) {
		case "":
		case "user_count":
			in.userCount = true
		case "subscription_count":
			in.subscriptionCount = true
		case "cache":
			in.cache = true
		default:
			return in, badRequest(fmt.Sprintf("unknown info attribute %q (known: user_count, subscription_count, cache)", truncate(a, 40)))
		}
	}
	return in, nil
}

func (in infoAttrs) any() bool { return in.userCount || in.subscriptionCount }

func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("request body is empty: expected a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("request body is not valid JSON of the expected shape: " + err.Error())
	}
	return nil
}

// validate checks an event against the protocol's rules and the app's
// limits. batch events name exactly one channel in "channel".
func validate(app *tenants.App, r *eventRequest, batch bool) (*event, error) {
	if r.Name == "" {
		return nil, badRequest("name is required")
	}
	if len(r.Name) > app.MaxEventNameLength {
		return nil, badRequest(fmt.Sprintf("event name %q is longer than %d characters", truncate(r.Name, 64), app.MaxEventNameLength))
	}
	if !protocol.ValidEventName(r.Name, app.MaxEventNameLength) {
		return nil, badRequest(fmt.Sprintf("event name %q is reserved: names may not start with pusher: or pusher_internal:", truncate(r.Name, 64)))
	}
	channels := r.Channels
	switch {
	case batch && r.Channel == "":
		return nil, badRequest("each batch event needs a channel")
	case batch:
		channels = []string{r.Channel}
	case len(channels) == 0 && r.Channel != "":
		channels = []string{r.Channel}
	}
	if len(channels) == 0 {
		return nil, badRequest("channels is required: a list of 1 to " + strconv.Itoa(app.MaxEventChannelsAtOnce) + " channel names")
	}
	if len(channels) > app.MaxEventChannelsAtOnce {
		return nil, badRequest(fmt.Sprintf("too many channels: %d, at most %d per event", len(channels), app.MaxEventChannelsAtOnce))
	}
	encrypted := false
	for _, ch := range channels {
		if !protocol.ValidChannelName(ch, app.MaxChannelNameLength) {
			return nil, badRequest(fmt.Sprintf("invalid channel name %q: at most %d characters from A-Z a-z 0-9 _ - = @ , . ;",
				truncate(ch, 200), app.MaxChannelNameLength))
		}
		encrypted = encrypted || protocol.Classify(ch).Kind == protocol.KindEncrypted
	}
	if encrypted && len(channels) > 1 {
		return nil, badRequest("an event to an encrypted channel (private-encrypted-) must name exactly one channel")
	}
	if r.SocketID != "" && !protocol.ValidSocketID(r.SocketID) {
		return nil, badRequest(fmt.Sprintf("invalid socket_id %q: expected digits.digits", truncate(r.SocketID, 64)))
	}
	data, text, err := dataString(r.Data)
	if err != nil {
		return nil, err
	}
	if max := app.MaxEventPayloadBytes(); len(text) > max {
		return nil, fail(http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("event data is %d bytes, more than the limit of %d", len(text), max))
	}
	if encrypted && !isEncryptedPayload(text) {
		return nil, badRequest("data for an encrypted channel must be JSON with string fields nonce and ciphertext")
	}
	info, err := parseInfo(r.Info)
	if err != nil {
		return nil, err
	}
	return &event{name: r.Name, data: data, channels: channels, socketID: r.SocketID, info: info}, nil
}

// dataString returns data as the JSON string literal to deliver and its
// decoded text. A string arrives as is, byte for byte; any other JSON
// value is compacted and sent as a string, as lenient servers do.
func dataString(raw json.RawMessage) (literal []byte, text string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", badRequest("data is required")
	}
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, "", badRequest("data is not a valid JSON string")
		}
		return raw, text, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, "", badRequest("data is not valid JSON")
	}
	text = b.String()
	return protocol.AppendJSONString(nil, text), text, nil
}

func isEncryptedPayload(text string) bool {
	var p struct {
		Nonce      *string `json:"nonce"`
		Ciphertext *string `json:"ciphertext"`
	}
	return json.Unmarshal([]byte(text), &p) == nil && p.Nonce != nil && p.Ciphertext != nil
}

func appOf(c echo.Context) *tenants.App { return c.Get(ctxApp).(*tenants.App) }
func bodyOf(c echo.Context) []byte      { b, _ := c.Get(ctxBody).([]byte); return b }

// triggerEvent is POST /apps/{app_id}/events.
func (a *API) triggerEvent(c echo.Context) error {
	start := time.Now()
	app := appOf(c)
	var req eventRequest
	if err := decodeJSON(bodyOf(c), &req); err != nil {
		return err
	}
	ev, err := validate(app, &req, false)
	if err != nil {
		return err
	}
	if err := a.allowPublish(app, 1); err != nil {
		return err
	}
	info, err := a.channelInfo(c, app, ev)
	if err != nil {
		return err
	}
	if err := a.opts.Publisher.Publish(c.Request().Context(), app.ID, ev.channels, ev.name, ev.data, ev.socketID); err != nil {
		return fmt.Errorf("restapi: publish: %w", err)
	}
	a.metrics.publish.Observe(time.Since(start).Seconds())
	if !ev.info.any() {
		return c.JSONBlob(http.StatusOK, []byte("{}"))
	}
	return c.JSON(http.StatusOK, map[string]any{"channels": info})
}

// channelInfo answers an event's info attributes: counts taken at publish.
func (a *API) channelInfo(c echo.Context, app *tenants.App, ev *event) (map[string]map[string]int, error) {
	if !ev.info.any() {
		return nil, nil
	}
	out := make(map[string]map[string]int, len(ev.channels))
	for _, ch := range ev.channels {
		counts, err := a.opts.State.Channel(c.Request().Context(), app.ID, ch)
		if err != nil {
			return nil, fmt.Errorf("restapi: channel info: %w", err)
		}
		m := map[string]int{}
		if ev.info.userCount && protocol.Classify(ch).Kind == protocol.KindPresence {
			m["user_count"] = counts.Users
		}
		if ev.info.subscriptionCount {
			m["subscription_count"] = counts.Subscriptions
		}
		out[ch] = m
	}
	return out, nil
}

// triggerBatch is POST /apps/{app_id}/batch_events: every event is
// validated before any is published.
func (a *API) triggerBatch(c echo.Context) error {
	start := time.Now()
	app := appOf(c)
	var req struct {
		Batch []eventRequest `json:"batch"`
	}
	if err := decodeJSON(bodyOf(c), &req); err != nil {
		return err
	}
	if len(req.Batch) == 0 {
		return badRequest("batch is required: a list of 1 to " + strconv.Itoa(app.MaxEventBatchSize) + " events")
	}
	if len(req.Batch) > app.MaxEventBatchSize {
		return badRequest(fmt.Sprintf("batch has %d events, at most %d are allowed", len(req.Batch), app.MaxEventBatchSize))
	}
	events := make([]*event, len(req.Batch))
	anyInfo := false
	for i := range req.Batch {
		ev, err := validate(app, &req.Batch[i], true)
		if err != nil {
			if ae, ok := err.(*apiError); ok {
				ae.Message = fmt.Sprintf("batch[%d]: %s", i, ae.Message)
			}
			return err
		}
		events[i] = ev
		anyInfo = anyInfo || ev.info.any()
	}
	if err := a.allowPublish(app, len(events)); err != nil {
		return err
	}
	results := make([]map[string]int, len(events))
	for i, ev := range events {
		info, err := a.channelInfo(c, app, ev)
		if err != nil {
			return err
		}
		results[i] = map[string]int{}
		if info != nil {
			results[i] = info[ev.channels[0]]
		}
	}
	for _, ev := range events {
		if err := a.opts.Publisher.Publish(c.Request().Context(), app.ID, ev.channels, ev.name, ev.data, ev.socketID); err != nil {
			return fmt.Errorf("restapi: publish batch: %w", err)
		}
	}
	a.metrics.publish.Observe(time.Since(start).Seconds())
	if !anyInfo {
		return c.JSONBlob(http.StatusOK, []byte("{}"))
	}
	return c.JSON(http.StatusOK, map[string]any{"batch": results})
}
