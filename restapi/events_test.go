package restapi_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants"
)

func event(name string, channels []string, data string, extra map[string]any) string {
	m := map[string]any{"name": name, "channels": channels, "data": data}
	for k, v := range extra {
		m[k] = v
	}
	return mustJSON(m)
}

func channelNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "c" + strconv.Itoa(i)
	}
	return out
}

func TestTriggerValidation(t *testing.T) {
	f := newFixture(t, nil)
	enc := `{"nonce":"bm9uY2U=","ciphertext":"Y2lwaGVy"}`
	for _, tc := range []struct {
		name, body string
		status     int
		mention    string // the message names the offending value
	}{
		{"data 10240 bytes", event("e", []string{"c"}, strings.Repeat("a", 10240), nil), 200, ""},
		{"data 10241 bytes", event("e", []string{"c"}, strings.Repeat("a", 10241), nil), 413, "10241"},
		// the limit counts the decoded string: 5120 "é" are 10240 bytes
		{"data 10240 bytes of é", event("e", []string{"c"}, strings.Repeat("é", 5120), nil), 200, ""},
		{"data 10242 bytes of é", event("e", []string{"c"}, strings.Repeat("é", 5121), nil), 413, ""},
		{"100 channels", event("e", channelNames(100), "x", nil), 200, ""},
		{"101 channels", event("e", channelNames(101), "x", nil), 400, "101"},
		{"name 200 bytes", event(strings.Repeat("n", 200), []string{"c"}, "x", nil), 200, ""},
		{"name 201 bytes", event(strings.Repeat("n", 201), []string{"c"}, "x", nil), 400, "nnnn"},
		{"reserved name", event("pusher:x", []string{"c"}, "x", nil), 400, "pusher:x"},
		{"internal name", event("pusher_internal:x", []string{"c"}, "x", nil), 400, "pusher_internal:x"},
		{"client- name from the server", event("client-x", []string{"private-c"}, "x", nil), 200, ""},
		{"bad channel", event("e", []string{"ok", "bad channel"}, "x", nil), 400, "bad channel"},
		{"channel 165 bytes", event("e", []string{strings.Repeat("c", 165)}, "x", nil), 400, "ccc"},
		{"channel 164 bytes", event("e", []string{strings.Repeat("c", 164)}, "x", nil), 200, ""},
		{"bad socket_id", event("e", []string{"c"}, "x", map[string]any{"socket_id": "abc"}), 400, "abc"},
		{"socket_id", event("e", []string{"c"}, "x", map[string]any{"socket_id": "1.2"}), 200, ""},
		{"encrypted with another channel", event("e", []string{"private-encrypted-a", "b"}, enc, nil), 400, "encrypted"},
		{"encrypted plain data", event("e", []string{"private-encrypted-a"}, "plain", nil), 400, "nonce"},
		{"encrypted nonce not a string", event("e", []string{"private-encrypted-a"}, `{"nonce":1,"ciphertext":"x"}`, nil), 400, "nonce"},
		{"encrypted no ciphertext", event("e", []string{"private-encrypted-a"}, `{"nonce":"x"}`, nil), 400, "ciphertext"},
		{"encrypted", event("e", []string{"private-encrypted-a"}, enc, nil), 200, ""},
		{"encrypted cache", event("e", []string{"private-encrypted-cache-a"}, enc, nil), 200, ""},
		{"server to user", event("e", []string{"#server-to-user-7"}, "x", nil), 200, ""},
		{"bad server to user", event("e", []string{"#server-to-user-"}, "x", nil), 400, "#server-to-user-"},
		{"other # channel", event("e", []string{"#other"}, "x", nil), 400, "#other"},
		{"unknown info", event("e", []string{"c"}, "x", map[string]any{"info": "members"}), 400, "members"},
		{"no data", `{"name":"e","channels":["c"]}`, 400, "data"},
		{"null data", `{"name":"e","channels":["c"],"data":null}`, 400, "data"},
		{"no name", `{"channels":["c"],"data":"x"}`, 400, "name"},
		{"no channels", `{"name":"e","data":"x"}`, 400, "channels"},
		{"empty channels", `{"name":"e","channels":[],"data":"x"}`, 400, "channels"},
		{"channels not a list", `{"name":"e","channels":"c","data":"x"}`, 400, "channels"},
		{"not json", `not json`, 400, "JSON"},
		{"json array", `[1]`, 400, ""},
		{"empty body", ``, 400, ""},
		{"invalid utf-8", "{\"name\":\"e\",\"channels\":[\"c\"],\"data\":\"\xff\"}", 400, "UTF-8"},
		{"trailing garbage", `{"name":"e","channels":["c"],"data":"x"} x`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.tb = t
			r := f.do("POST", "/apps/1/events", nil, tc.body)
			code := map[int]string{200: "", 400: "bad_request", 413: "payload_too_large"}[tc.status]
			f.expect(r, tc.status, code)
			if tc.mention != "" && !strings.Contains(r.json(t)["error"].(string), tc.mention) {
				t.Fatalf("message does not mention %q: %s", tc.mention, r.body)
			}
		})
	}
}

// TestTriggerDataIsDeliveredVerbatim: a string data is handed on as the
// exact JSON token sent (escapes and all), on every channel, with the
// excluded socket.
func TestTriggerDataIsDeliveredVerbatim(t *testing.T) {
	f := newFixture(t, nil)
	token := `"{\"x\":\"\u00e9\\u00e9\\/\",\"n\":1.50}"`
	body := `{"name":"e","channels":["a","b"],"data":` + token + `,"socket_id":"123.456"}`
	f.expectJSON(f.do("POST", "/apps/1/events", nil, body), `{}`)
	msgs := f.rec.take()
	if len(msgs) != 2 || msgs[0].Channel != "a" || msgs[1].Channel != "b" {
		t.Fatalf("messages %+v", msgs)
	}
	for _, m := range msgs {
		if string(m.Data) != token || m.ExcludeSocketID != "123.456" || m.Event != "e" {
			t.Fatalf("message %+v data %s", m, m.Data)
		}
	}
}

// TestTriggerNonStringDataIsCompacted: lenient servers send other JSON
// values on as a compact JSON string.
func TestTriggerNonStringDataIsCompacted(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct{ data, want string }{
		{`{"a": [1, 2.50, "x"]}`, `"{\"a\":[1,2.50,\"x\"]}"`},
		{`12345678901234567890`, `"12345678901234567890"`},
		{`true`, `"true"`},
		{`[ ]`, `"[]"`},
	} {
		f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"e","channel":"solo","data":`+tc.data+`}`), 200, "")
		msgs := f.rec.take()
		if len(msgs) != 1 || msgs[0].Channel != "solo" || string(msgs[0].Data) != tc.want {
			t.Fatalf("data %s → %+v", tc.data, msgs)
		}
	}
	// the size limit counts the compacted text
	big := `{"k":"` + strings.Repeat("a", 10232) + `"}` // 10240 bytes
	f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"e","channel":"c","data":`+big+`}`), 200, "")
	big = `{"k":"` + strings.Repeat("a", 10233) + `"}`
	f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"e","channel":"c","data":`+big+`}`), 413, "payload_too_large")
}

// TestChannelsWinOverChannel: with both fields, channels is used.
func TestChannelsWinOverChannel(t *testing.T) {
	f := newFixture(t, nil)
	f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["a"],"channel":"b","data":"x"}`), 200, "")
	if m := f.rec.take(); len(m) != 1 || m[0].Channel != "a" {
		t.Fatalf("%+v", m)
	}
}

func TestTriggerInfo(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	_, _ = f.state.AddSubscription(ctx, appID, "news", "1.1")
	_, _ = f.state.AddSubscription(ctx, appID, "news", "1.2")
	_, _ = f.state.AddMember(ctx, appID, "presence-r", "1.3", protocol.Member{UserID: "u"}, 0)
	_, _ = f.state.AddMember(ctx, appID, "presence-r", "1.4", protocol.Member{UserID: "u"}, 0)
	r := f.do("POST", "/apps/1/events", nil, event("e", []string{"news", "presence-r", "empty"}, "x", map[string]any{"info": "user_count,subscription_count"}))
	f.expectJSON(r, `{"channels":{"news":{"subscription_count":2},"presence-r":{"subscription_count":2,"user_count":1},"empty":{"subscription_count":0}}}`)
	r = f.do("POST", "/apps/1/events", nil, event("e", []string{"news", "presence-r"}, "x", map[string]any{"info": "user_count"}))
	f.expectJSON(r, `{"channels":{"news":{},"presence-r":{"user_count":1}}}`)
	if n := len(f.rec.take()); n != 5 {
		t.Fatalf("%d messages", n)
	}
}

// TestSendToUser is what the Node SDK's sendToUser does.
func TestSendToUser(t *testing.T) {
	f := newFixture(t, nil)
	f.expectJSON(f.do("POST", "/apps/1/events", nil, `{"name":"my-event","channels":["#server-to-user-12345"],"data":"{\"a\":1}"}`), `{}`)
	m := f.rec.take()
	if len(m) != 1 || m[0].Channel != "#server-to-user-12345" || string(m[0].Data) != `"{\"a\":1}"` {
		t.Fatalf("%+v", m)
	}
}

func TestCacheChannelPublishIsStored(t *testing.T) {
	f := newFixture(t, nil)
	f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"price","channels":["cache-p"],"data":"{\"eur\":1}"}`), 200, "")
	ev, ok, _ := f.state.Cache(t.Context(), appID, "cache-p")
	if !ok || ev.Event != "price" || string(ev.Data) != `"{\"eur\":1}"` {
		t.Fatalf("cache %+v %v", ev, ok)
	}
}

func batchBody(items ...map[string]string) string {
	return mustJSON(map[string]any{"batch": items})
}

func item(channel, data string) map[string]string {
	return map[string]string{"channel": channel, "name": "e", "data": data}
}

func TestBatch(t *testing.T) {
	f := newFixture(t, nil)
	items := make([]map[string]string, 11)
	for i := range items {
		items[i] = item("c"+strconv.Itoa(i), strconv.Itoa(i))
	}
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batchBody(items...)), 400, "bad_request")
	f.expectJSON(f.do("POST", "/apps/1/batch_events", nil, batchBody(items[:10]...)), `{}`)
	msgs := f.rec.take()
	if len(msgs) != 10 {
		t.Fatalf("%d published", len(msgs))
	}
	for i, m := range msgs {
		if m.Channel != "c"+strconv.Itoa(i) || string(m.Data) != strconv.Quote(strconv.Itoa(i)) {
			t.Fatalf("order: %d is %s %s", i, m.Channel, m.Data)
		}
	}

	// any bad item refuses the whole batch, and the message names it
	for _, tc := range []struct {
		name   string
		bad    map[string]string
		status int
	}{
		{"bad channel", item("bad name", "x"), 400},
		{"channels instead of channel", map[string]string{"name": "e", "data": "x"}, 400},
		{"reserved name", map[string]string{"channel": "c", "name": "pusher:e", "data": "x"}, 400},
		{"bad socket id", map[string]string{"channel": "c", "name": "e", "data": "x", "socket_id": "1"}, 400},
		{"too large", item("c", strings.Repeat("x", 10241)), 413},
		{"encrypted plain", item("private-encrypted-c", "x"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.tb = t
			r := f.do("POST", "/apps/1/batch_events", nil, batchBody(item("a", "1"), item("b", "2"), tc.bad))
			f.expect(r, tc.status, map[int]string{400: "bad_request", 413: "payload_too_large"}[tc.status])
			if !strings.Contains(r.body, "batch[2]") {
				t.Fatalf("message does not name the item: %s", r.body)
			}
			if n := len(f.rec.take()); n != 0 {
				t.Fatalf("a refused batch published %d", n)
			}
		})
	}
	f.tb = t
	f.expect(f.do("POST", "/apps/1/batch_events", nil, `{"batch":[]}`), 400, "bad_request")
	f.expect(f.do("POST", "/apps/1/batch_events", nil, `{}`), 400, "bad_request")
	f.expect(f.do("POST", "/apps/1/batch_events", nil, `{"batch":{}}`), 400, "bad_request")
}

func TestBatchInfoIsAlignedWithRequestOrder(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	_, _ = f.state.AddSubscription(ctx, appID, "c1", "1.1")
	_, _ = f.state.AddMember(ctx, appID, "presence-r", "1.2", protocol.Member{UserID: "u1"}, 0)
	_, _ = f.state.AddMember(ctx, appID, "presence-r", "1.3", protocol.Member{UserID: "u2"}, 0)
	body := `{"batch":[
		{"channel":"c0","name":"e","data":"x"},
		{"channel":"c1","name":"e","data":"x","info":"subscription_count"},
		{"channel":"presence-r","name":"e","data":"x","socket_id":"1.2","info":"user_count,subscription_count"},
		{"channel":"c1","name":"e","data":"x","info":"user_count"}]}`
	f.expectJSON(f.do("POST", "/apps/1/batch_events", nil, body),
		`{"batch":[{},{"subscription_count":1},{"user_count":2,"subscription_count":2},{}]}`)
	msgs := f.rec.take()
	if len(msgs) != 4 || msgs[2].ExcludeSocketID != "1.2" || msgs[0].ExcludeSocketID != "" {
		t.Fatalf("%+v", msgs)
	}
}

// TestUnlimitedAndUnsetCountLimits: -1 lifts a count limit; 0 (a field a
// store left unset) means the protocol default.
func TestUnlimitedAndUnsetCountLimits(t *testing.T) {
	app := tenants.NewApp(appID, key, secret)
	app.MaxEventChannelsAtOnce = tenants.Unlimited
	app.MaxEventBatchSize = tenants.Unlimited
	app.MaxEventNameLength = tenants.Unlimited
	app.MaxEventPayloadInKB = tenants.Unlimited
	f := newFixture(t, []*tenants.App{app})
	f.expect(f.do("POST", "/apps/1/events", nil, event(strings.Repeat("n", 500), channelNames(150), strings.Repeat("x", 20000), nil)), 200, "")
	items := make([]map[string]string, 20)
	for i := range items {
		items[i] = item("c", "x")
	}
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batchBody(items...)), 200, "")

	app = tenants.NewApp(appID, key, secret)
	app.Limits = tenants.Limits{MaxBackendEventsPerSecond: -1, MaxReadRequestsPerSecond: -1}
	f.putApp(app)
	f.expect(f.do("POST", "/apps/1/events", nil, event("e", channelNames(100), strings.Repeat("x", 10240), nil)), 200, "")
	f.expect(f.do("POST", "/apps/1/events", nil, event("e", channelNames(101), "x", nil)), 400, "bad_request")
	f.expect(f.do("POST", "/apps/1/events", nil, event("e", []string{"c"}, strings.Repeat("x", 10241), nil)), 413, "payload_too_large")
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batchBody(items[:11]...)), 400, "bad_request")
}

// TestEventJSONFieldTypes: a wrong type is a 400 naming the field.
func TestEventJSONFieldTypes(t *testing.T) {
	f := newFixture(t, nil)
	r := f.do("POST", "/apps/1/events", nil, `{"name":1,"channels":["c"],"data":"x"}`)
	f.expect(r, 400, "bad_request")
	var m struct{ Error string }
	_ = json.Unmarshal([]byte(r.body), &m)
	if !strings.Contains(m.Error, `"name"`) {
		t.Fatalf("%s", r.body)
	}
}

// TestDecodedLen: the size limit counts what encoding/json would decode,
// without decoding.
func TestDecodedLen(t *testing.T) {
	for _, tok := range []string{
		`""`, `"a"`, `"é"`, `"\u00e9"`, `"\""`, `"\\"`, `"\n\t\/\b\f\r"`,
		`"\ud83d\ude00"`, `"😀"`, `"\ud83d"`, `"\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`,
		`"\ud83d\ud83d\ude00"`, `"\uD83D\uDE00"`, `"\u2028"`, `"{\"some\":\"data\"}"`,
	} {
		var s string
		if err := json.Unmarshal([]byte(tok), &s); err != nil {
			t.Fatalf("%s: %v", tok, err)
		}
		if got := restapi.DecodedLen([]byte(tok)); got != len(s) {
			t.Errorf("DecodedLen(%s) = %d, want %d", tok, got, len(s))
		}
	}
}
