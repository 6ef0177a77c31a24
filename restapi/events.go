package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-rt/switchboard/internal/jsonscan"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// eventRequest is one event of POST /events or one item of a batch.
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

// infoAttrs are the attributes asked for with info=…
type infoAttrs struct{ userCount, subscriptionCount, cache bool }

func (in infoAttrs) counts() bool { return in.userCount || in.subscriptionCount }

// parseInfo reads a comma-separated info list. Unknown attributes are
// refused so that a typo does not silently return nothing.
func parseInfo(s string) (infoAttrs, error) {
	var in infoAttrs
	for s != "" {
		var a string
		a, s, _ = strings.Cut(s, ",")
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

// decodeJSON parses a request body whatever its Content-Type said (the
// SDKs send application/json, with or without charset; we are lenient).
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("request body is empty: expected a JSON object")
	}
	// JSON is UTF-8, and data is passed to browsers byte for byte in
	// WebSocket text frames, where invalid UTF-8 makes them drop the
	// connection.
	if !utf8.Valid(body) {
		return badRequest("request body is not valid UTF-8")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest(fmt.Sprintf("field %q must be a JSON %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value))
		}
		return badRequest("request body is not valid JSON: " + err.Error())
	}
	return nil
}

// decodeEvent parses the body of POST /events: the SDKs' usual shape by
// scanEvent, everything else by decodeJSON.
func decodeEvent(body []byte, r *eventRequest) error {
	if utf8.Valid(body) && scanEvent(body, r) {
		return nil
	}
	*r = eventRequest{}
	return decodeJSON(body, r)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return goKind
}

// validate checks an event against the protocol's rules and the app's
// limits. A batch item names its one channel in "channel"; a trigger uses
// "channels", or "channel" when "channels" is absent.
func validate(app *tenants.App, r *eventRequest, batch bool) (*event, error) {
	nameMax := maxEventName(app)
	switch {
	case r.Name == "":
		return nil, badRequest("name is required")
	case len(r.Name) > nameMax:
		return nil, badRequest(fmt.Sprintf("event name %q is longer than %d bytes", truncate(r.Name, 64), nameMax))
	case !protocol.ValidEventName(r.Name, nameMax):
		return nil, badRequest(fmt.Sprintf("event name %q is reserved: names may not start with pusher: or pusher_internal:", truncate(r.Name, 64)))
	}
	channels := r.Channels
	switch {
	case batch && r.Channel == "":
		return nil, badRequest("channel is required (each batch item names one channel)")
	case batch:
		channels = []string{r.Channel}
	case len(channels) == 0 && r.Channel != "":
		channels = []string{r.Channel}
	}
	chMax := maxChannels(app)
	if len(channels) == 0 {
		return nil, badRequest("channels is required: a list of 1 to " + strconv.Itoa(chMax) + " channel names")
	}
	if len(channels) > chMax {
		return nil, badRequest(fmt.Sprintf("too many channels: %d, at most %d per event", len(channels), chMax))
	}
	encrypted := false
	nameLen := maxChannelName(app)
	for _, ch := range channels {
		if !protocol.ValidChannelName(ch, nameLen) {
			return nil, badRequest(fmt.Sprintf("invalid channel name %q: 1 to %d characters from A-Z a-z 0-9 _ - = @ , . ; (or #server-to-user-{id})",
				truncate(ch, 200), nameLen))
		}
		encrypted = encrypted || protocol.Classify(ch).Kind == protocol.KindEncrypted
	}
	if encrypted && len(channels) > 1 {
		return nil, badRequest("an event to an encrypted channel (private-encrypted-) must name exactly that one channel")
	}
	if r.SocketID != "" && !protocol.ValidSocketID(r.SocketID) {
		return nil, badRequest(fmt.Sprintf("invalid socket_id %q: expected digits.digits", truncate(r.SocketID, 64)))
	}
	data, size, err := dataString(r.Data)
	if err != nil {
		return nil, err
	}
	if limit := maxPayload(app); size > limit {
		return nil, tooLarge(fmt.Sprintf("Payload too large: event data is %d bytes, more than the limit of %d", size, limit))
	}
	if encrypted && !isEncryptedPayload(data) {
		return nil, badRequest("data for an encrypted channel must be a JSON object with string fields nonce and ciphertext")
	}
	info, err := parseInfo(r.Info)
	if err != nil {
		return nil, err
	}
	return &event{name: r.Name, data: data, channels: channels, socketID: r.SocketID, info: info}, nil
}

// dataString returns data as the JSON string literal to deliver and the
// length in bytes of the text it stands for (what the size limit counts).
// A string is delivered as sent, byte for byte; any other JSON value is
// compacted and sent as a string, as lenient servers do. raw comes from a
// successful json.Unmarshal, so it is valid JSON.
func dataString(raw json.RawMessage) (literal []byte, size int, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, 0, badRequest("data is required")
	}
	if raw[0] == '"' {
		return raw, decodedLen(raw), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, 0, badRequest("data is not valid JSON")
	}
	return protocol.AppendJSONString(nil, b.String()), b.Len(), nil
}

// decodedLen is the length in bytes of the string a valid JSON string
// literal decodes to, counted as encoding/json decodes it (a lone
// surrogate becomes U+FFFD) but without building it: the publish path
// then needs no decode at all (BenchmarkPublishHandler: 4 allocations
// fewer per request).
func decodedLen(tok []byte) int {
	n := 0
	end := len(tok) - 1 // the closing quote
	for i := 1; i < end; {
		if tok[i] != '\\' {
			n++
			i++
			continue
		}
		if tok[i+1] != 'u' {
			n++
			i += 2
			continue
		}
		var r rune
		r, i = jsonscan.UnicodeEscape(tok[:end], i)
		n += utf8.RuneLen(r)
	}
	return n
}

// isEncryptedPayload reports whether the data literal holds what the SDKs
// send to encrypted channels: {"nonce": "…", "ciphertext": "…"}.
func isEncryptedPayload(literal []byte) bool {
	var text string
	if json.Unmarshal(literal, &text) != nil {
		return false
	}
	var p struct {
		Nonce      *string `json:"nonce"`
		Ciphertext *string `json:"ciphertext"`
	}
	return json.Unmarshal([]byte(text), &p) == nil && p.Nonce != nil && p.Ciphertext != nil
}

// channelCounts is one channel's answer to info=…; absent counts are left
// out of the JSON.
type channelCounts struct {
	UserCount         *int `json:"user_count,omitempty"`
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}

// triggerEvent is POST /apps/{app_id}/events.
func (a *API) triggerEvent(c echo.Context, auth *authed) error {
	start := time.Now()
	app := auth.app
	var req eventRequest
	if err := decodeEvent(auth.body, &req); err != nil {
		return err
	}
	ev, err := validate(app, &req, false)
	if err != nil {
		return err
	}
	if err := a.allowPublish(c.Request().Context(), app, 1); err != nil {
		return err
	}
	if err := a.allowQuota(app.ID, len(ev.channels)); err != nil {
		return err
	}
	var info map[string]channelCounts
	if ev.info.counts() {
		info = make(map[string]channelCounts, len(ev.channels))
		for _, ch := range ev.channels {
			if info[ch], err = a.counts(c, app, ch, ev.info); err != nil {
				return err
			}
		}
	}
	if err := a.opts.Publisher.Publish(c.Request().Context(), app.ID, historyOf(app), ev.channels, ev.name, ev.data, ev.socketID); err != nil {
		return a.unavailable(c, "event", err)
	}
	a.opts.Usage.Published(app.ID, len(ev.channels))
	a.metrics.publish.Observe(time.Since(start).Seconds())
	if info == nil {
		return c.JSONBlob(http.StatusOK, emptyObject)
	}
	return c.JSON(http.StatusOK, struct {
		Channels map[string]channelCounts `json:"channels"`
	}{info})
}

var emptyObject = []byte("{}")

// counts answers info for one channel of a publish, counted before the
// event goes out: user_count only on presence channels.
func (a *API) counts(c echo.Context, app *tenants.App, ch string, in infoAttrs) (channelCounts, error) {
	n, err := a.opts.State.Channel(c.Request().Context(), app.ID, ch)
	if err != nil {
		return channelCounts{}, fmt.Errorf("restapi: channel info: %w", err)
	}
	var out channelCounts
	if in.userCount && protocol.Classify(ch).Kind == protocol.KindPresence {
		out.UserCount = &n.Users
	}
	if in.subscriptionCount {
		out.SubscriptionCount = &n.Subscriptions
	}
	return out, nil
}

// triggerBatch is POST /apps/{app_id}/batch_events. Every item is
// validated before any is published: a batch is refused whole or
// published whole (in request order).
func (a *API) triggerBatch(c echo.Context, auth *authed) error {
	start := time.Now()
	app := auth.app
	var req struct {
		Batch []eventRequest `json:"batch"`
	}
	if err := decodeJSON(auth.body, &req); err != nil {
		return err
	}
	limit := maxBatch(app)
	if len(req.Batch) == 0 {
		return badRequest("batch is required: a list of 1 to " + strconv.Itoa(limit) + " events")
	}
	if len(req.Batch) > limit {
		return badRequest(fmt.Sprintf("batch has %d events, at most %d are allowed", len(req.Batch), limit))
	}
	events := make([]*event, len(req.Batch))
	anyInfo := false
	for i := range req.Batch {
		ev, err := validate(app, &req.Batch[i], true)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				ae.Message = fmt.Sprintf("batch[%d]: %s", i, ae.Message)
			}
			return err
		}
		events[i] = ev
		anyInfo = anyInfo || ev.info.counts()
	}
	if err := a.allowPublish(c.Request().Context(), app, len(events)); err != nil {
		return err
	}
	published := 0
	for _, ev := range events {
		published += len(ev.channels)
	}
	if err := a.allowQuota(app.ID, published); err != nil {
		return err
	}
	var results []channelCounts
	if anyInfo {
		results = make([]channelCounts, len(events))
		for i, ev := range events {
			if !ev.info.counts() {
				continue
			}
			var err error
			if results[i], err = a.counts(c, app, ev.channels[0], ev.info); err != nil {
				return err
			}
		}
	}
	ctx := c.Request().Context()
	for i, ev := range events {
		if err := a.opts.Publisher.Publish(ctx, app.ID, historyOf(app), ev.channels, ev.name, ev.data, ev.socketID); err != nil {
			// The ones before i went out; say so, since a retry repeats them.
			return a.unavailable(c, "batch events from index "+strconv.Itoa(i)+" (the "+strconv.Itoa(i)+" before it were published)", err)
		}
		a.opts.Usage.Published(app.ID, len(ev.channels))
	}
	a.metrics.publish.Observe(time.Since(start).Seconds())
	if !anyInfo {
		return c.JSONBlob(http.StatusOK, emptyObject)
	}
	return c.JSON(http.StatusOK, struct {
		Batch []channelCounts `json:"batch"`
	}{results})
}
