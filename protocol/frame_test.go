package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-rt/switchboard/protocol"
)

func TestDecodeClientFrame(t *testing.T) {
	cases := []struct {
		name, in             string
		event, channel, data string
	}{
		{"subscribe", `{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}`,
			"pusher:subscribe", "", `{"auth":"","channel":"news"}`},
		{"client event, data object kept verbatim", ` {"event":"client-x","channel":"private-a","data":{"a": 1}} `,
			"client-x", "private-a", `{"a": 1}`},
		{"data as string", `{"event":"client-x","channel":"private-a","data":"{\"a\":1}"}`,
			"client-x", "private-a", `"{\"a\":1}"`},
		{"data as number", `{"event":"client-x","channel":"private-a","data":5}`,
			"client-x", "private-a", `5`},
		{"data null", `{"event":"pusher:ping","data":null}`, "pusher:ping", "", `null`},
		{"no data", `{"event":"pusher:ping"}`, "pusher:ping", "", ``},
		{"unknown fields ignored", `{"event":"pusher:ping","data":{},"user_id":"forged","x":[1]}`,
			"pusher:ping", "", `{}`},
		{"escaped event name", `{"event":"client-\u00e9\n","channel":"presence-a"}`,
			"client-é\n", "presence-a", ``},
		{"whitespace around", "\r\n\t{ \"event\" : \"pusher:pong\" , \"data\" : { } }\n",
			"pusher:pong", "", `{ }`},
	}
	for _, tc := range cases {
		f, err := protocol.DecodeClientFrame([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if f.Event != tc.event || f.Channel != tc.channel || string(f.Data) != tc.data {
			t.Errorf("%s: got %q %q %s, want %q %q %s", tc.name, f.Event, f.Channel, f.Data, tc.event, tc.channel, tc.data)
		}
	}

	bad := []struct{ name, in string }{
		{"empty", ``},
		{"blank", " \n"},
		{"not JSON", `not json`},
		{"invalid JSON object", `{"event":"pusher:ping",}`},
		{"truncated", `{"event":"pusher:subscribe","data":{"chan`},
		{"truncated after event", `{"event":"pusher:ping"`},
		{"trailing garbage", `{"event":"pusher:ping"}x`},
		{"two objects", `{"event":"a"}{"event":"b"}`},
		{"array", `[{"event":"pusher:ping"}]`},
		{"string", `"pusher:ping"`},
		{"number", `5`},
		{"null", `null`},
		{"no event", `{"data":{}}`},
		{"empty event", `{"event":""}`},
		{"null event", `{"event":null}`},
		{"numeric event", `{"event":5}`},
		{"object event", `{"event":{"name":"x"}}`},
		{"array event", `{"event":["pusher:ping"]}`},
		{"numeric channel", `{"event":"client-x","channel":5}`},
		{"invalid UTF-8 in data", "{\"event\":\"client-x\",\"channel\":\"private-a\",\"data\":\"\xff\"}"},
		{"invalid UTF-8 in event", "{\"event\":\"client-\xff\"}"},
		{"raw control char in string", "{\"event\":\"client-\x01\"}"},
	}
	for _, tc := range bad {
		f, err := protocol.DecodeClientFrame([]byte(tc.in))
		if !errors.Is(err, protocol.ErrFrame) {
			t.Errorf("%s: DecodeClientFrame(%q) = %+v, %v; want ErrFrame", tc.name, tc.in, f, err)
		}
	}
}

func TestDecodeSubscribe(t *testing.T) {
	cases := []struct {
		name, data                 string
		channel, auth, channelData string
	}{
		{"public", `{"auth":"","channel":"news"}`, "news", "", ""},
		{"private", `{"channel":"private-orders","auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`,
			"private-orders", "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4", ""},
		{"presence object", `{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":1}"}`,
			"presence-a", "k:s", `{"user_id":1}`},
		{"presence string-wrapped", `"{\"channel\":\"presence-a\",\"auth\":\"k:s\",\"channel_data\":\"{\\\"user_id\\\":1}\"}"`,
			"presence-a", "k:s", `{"user_id":1}`},
		{"unsubscribe", `{"channel":"private-orders"}`, "private-orders", "", ""},
		{"channel_data kept byte for byte", `{"channel":"presence-a","auth":"k:s","channel_data":"{ \"user_id\" : 10 }"}`,
			"presence-a", "k:s", `{ "user_id" : 10 }`},
		{"surrounding whitespace", " {\"channel\":\"news\"} ", "news", "", ""},
	}
	for _, tc := range cases {
		d, err := protocol.DecodeSubscribe(json.RawMessage(tc.data))
		if err != nil || d.Channel != tc.channel || d.Auth != tc.auth || d.ChannelData != tc.channelData {
			t.Errorf("%s: %+v %v", tc.name, d, err)
		}
	}
	for _, bad := range []string{``, `null`, `5`, `"x"`, `"5"`, `[1]`, `{"channel":5}`, `{"channel":"a"`, `"{\"channel\":5}"`, `{"channel":"a","channel_data":{"user_id":1}}`} {
		if d, err := protocol.DecodeSubscribe(json.RawMessage(bad)); !errors.Is(err, protocol.ErrFrame) {
			t.Errorf("DecodeSubscribe(%s) = %+v, %v; want ErrFrame", bad, d, err)
		}
	}
}

func TestDecodeSignin(t *testing.T) {
	for _, data := range []string{
		`{"auth":"k:s","user_data":"{\"id\":\"12345\"}"}`,
		`"{\"auth\":\"k:s\",\"user_data\":\"{\\\"id\\\":\\\"12345\\\"}\"}"`,
	} {
		d, err := protocol.DecodeSignin(json.RawMessage(data))
		if err != nil || d.Auth != "k:s" || d.UserData != `{"id":"12345"}` {
			t.Errorf("%s: %+v %v", data, d, err)
		}
	}
	for _, bad := range []string{``, `5`, `[]`, `{"user_data":{"id":"1"}}`} {
		if _, err := protocol.DecodeSignin(json.RawMessage(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestParseChannelData(t *testing.T) {
	cases := []struct {
		name, in string
		id       string
		info     string // compact JSON, "" for none
	}{
		{"doc vector, numeric id", `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, "10", `{"name":"Mr. Channels"}`},
		{"string id", `{"user_id":"10","user_info":{"name":"Mr. Channels"}}`, "10", `{"name":"Mr. Channels"}`},
		{"user_info compacted", "{\"user_id\":\"abc\",\"user_info\": {\n  \"name\" : \"A b\",\n \"tags\": [1, 2] }}", "abc", `{"name":"A b","tags":[1,2]}`},
		{"no user_info", `{"user_id":"abc"}`, "abc", ""},
		{"null user_info", `{"user_id":"abc","user_info":null}`, "abc", ""},
		{"other fields ignored", `{"user_id":"abc","extra":true}`, "abc", ""},
		{"escaped id", `{"user_id":"a\"b\u00e9"}`, `a"bé`, ""},
		{"negative id", `{"user_id":-7}`, "-7", ""},
		{"zero id", `{"user_id":0}`, "0", ""},
		// Numeric ids become the string pusher-js derives from the same
		// number (it looks members up by object key), so other SDKs' forms
		// of one number give one member id.
		{"float id", `{"user_id":10.0}`, "10", ""},
		{"one point zero id", `{"user_id":1.0}`, "1", ""},
		{"1e3 id", `{"user_id":1e3}`, "1000", ""},
		{"20-digit id", `{"user_id":12345678901234567890}`, "12345678901234567000", ""},
		{"large negative id", `{"user_id":-1.5e300}`, "-1.5e+300", ""},
		{"exponent id", `{"user_id":1e2}`, "100", ""},
		{"fraction id", `{"user_id":1.5}`, "1.5", ""},
		{"scaled fraction id", `{"user_id":123e-2}`, "1.23", ""},
		{"negative zero id", `{"user_id":-0}`, "0", ""},
		{"max safe integer", `{"user_id":9007199254740993}`, "9007199254740992", ""},
		{"snowflake id", `{"user_id":1234567890123456789}`, "1234567890123456800", ""},
		{"large id", `{"user_id":1e21}`, "1e+21", ""},
		{"small id", `{"user_id":0.000001}`, "0.000001", ""},
		{"tiny id", `{"user_id":1e-7}`, "1e-7", ""},
	}
	for _, tc := range cases {
		m, err := protocol.ParseChannelData(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if m.UserID != tc.id || string(m.UserInfo) != tc.info {
			t.Errorf("%s: got id %q info %s, want %q %s", tc.name, m.UserID, m.UserInfo, tc.id, tc.info)
		}
		if tc.info == "" && m.UserInfo != nil {
			t.Errorf("%s: UserInfo %q, want nil", tc.name, m.UserInfo)
		}
	}
	for _, bad := range []string{
		``, `x`, `[]`, `null`, `"10"`, `10`,
		`{}`, `{"user_info":{"name":"x"}}`,
		`{"user_id":""}`, `{"user_id":null}`, `{"user_id":true}`, `{"user_id":{}}`, `{"user_id":[1]}`,
		`{"user_id":1e400}`,
		`{"user_id":"1"`,
	} {
		if m, err := protocol.ParseChannelData(bad); !errors.Is(err, protocol.ErrChannelData) {
			t.Errorf("ParseChannelData(%q) = %+v, %v; want ErrChannelData", bad, m, err)
		}
	}
}

func TestParseUserData(t *testing.T) {
	cases := []struct {
		name, in  string
		id, info  string
		watchlist []string
	}{
		{"doc example", `{"id":"12345","user_info":{"name":"Ann"},"watchlist":["2","3"]}`, "12345", `{"name":"Ann"}`, []string{"2", "3"}},
		{"id only", `{"id":"12345"}`, "12345", "", nil},
		{"other fields ignored", `{"id":"1","extra":1,"email":"a@b"}`, "1", "", nil},
		{"user_info compacted", `{"id":"1","user_info": { "a" : [ 1 ] } }`, "1", `{"a":[1]}`, nil},
		{"empty watchlist", `{"id":"1","watchlist":[]}`, "1", "", []string{}},
		{"null watchlist", `{"id":"1","watchlist":null}`, "1", "", nil},
	}
	for _, tc := range cases {
		u, err := protocol.ParseUserData(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if u.ID != tc.id || string(u.UserInfo) != tc.info || strings.Join(u.Watchlist, ",") != strings.Join(tc.watchlist, ",") ||
			len(u.Watchlist) != len(tc.watchlist) {
			t.Errorf("%s: got %+v", tc.name, u)
		}
	}
	for _, bad := range []string{
		``, `x`, `[]`, `null`, `{}`,
		`{"id":5}`, `{"id":12345}`, `{"id":""}`, `{"id":null}`, `{"id":true}`, `{"id":["1"]}`,
		`{"name":"x"}`, `{"user_id":"1"}`,
		`{"id":"1","watchlist":"2"}`, `{"id":"1","watchlist":[2]}`,
		`{"id":"1"`,
	} {
		if u, err := protocol.ParseUserData(bad); !errors.Is(err, protocol.ErrUserData) {
			t.Errorf("ParseUserData(%q) = %+v, %v; want ErrUserData", bad, u, err)
		}
	}
}

// envelope is a server frame as a client decodes it.
type envelope struct {
	Event   *string         `json:"event"`
	Channel *string         `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  *string         `json:"user_id"`
}

func decodeEnvelope(t *testing.T, b []byte) envelope {
	t.Helper()
	if !utf8.Valid(b) {
		t.Fatalf("frame is not UTF-8: %q", b)
	}
	var e envelope
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	if d.More() {
		t.Fatalf("frame %s: trailing data", b)
	}
	if e.Event == nil {
		t.Fatalf("frame %s: no event", b)
	}
	return e
}

// dataString decodes the data of e, which must be a JSON string.
func dataString(t *testing.T, e envelope) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(e.Data, &s); err != nil {
		t.Fatalf("data is not a string: %s", e.Data)
	}
	return s
}

func TestConnectionEstablished(t *testing.T) {
	for _, tc := range []struct {
		socketID string
		timeout  int
	}{{"123456.7891011", 120}, {"1.2", 30}, {`odd"id\`, 1}} {
		b := protocol.ConnectionEstablished(tc.socketID, tc.timeout)
		e := decodeEnvelope(t, b)
		if *e.Event != "pusher:connection_established" || e.Channel != nil || e.UserID != nil {
			t.Fatalf("%s", b)
		}
		inner := dataString(t, e)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(inner), &fields); err != nil || len(fields) != 2 {
			t.Fatalf("data %s: want exactly socket_id and activity_timeout (%v)", inner, err)
		}
		var d struct {
			SocketID        string `json:"socket_id"`
			ActivityTimeout int    `json:"activity_timeout"`
		}
		if err := json.Unmarshal([]byte(inner), &d); err != nil || d.SocketID != tc.socketID || d.ActivityTimeout != tc.timeout {
			t.Errorf("data %s: %+v %v", inner, d, err)
		}
	}
	// The documented frame, byte for byte.
	want := `{"event":"pusher:connection_established","data":"{\"socket_id\":\"123456.7891011\",\"activity_timeout\":120}"}`
	if got := string(protocol.ConnectionEstablished("123456.7891011", 120)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestErrorFrame(t *testing.T) {
	cases := []struct {
		err     *protocol.Error
		channel string
		want    string
	}{
		{protocol.ErrInvalidMessage, "",
			`{"event":"pusher:error","data":{"code":null,"message":"Invalid message format"}}`},
		{protocol.ErrOverConnectionQuota, "",
			`{"event":"pusher:error","data":{"code":4004,"message":"Application is over connection quota"}}`},
		{protocol.ErrClientEventRateLimit, "private-a",
			`{"event":"pusher:error","channel":"private-a","data":{"code":4301,"message":"Client event rejected due to rate limit"}}`},
		{&protocol.Error{Message: "Subscription to \"x\" rejected\n\u2028"}, "", ""},
	}
	for _, tc := range cases {
		var b []byte
		if tc.channel == "" {
			b = protocol.ErrorFrame(tc.err)
		} else {
			b = protocol.ChannelErrorFrame(tc.err, tc.channel)
		}
		if tc.want != "" && string(b) != tc.want {
			t.Errorf("got  %s\nwant %s", b, tc.want)
		}
		e := decodeEnvelope(t, b)
		if *e.Event != protocol.EventError || (tc.channel == "") != (e.Channel == nil) {
			t.Errorf("%s: envelope", b)
		}
		var data struct {
			Code    *int    `json:"code"`
			Message *string `json:"message"`
		}
		d := json.NewDecoder(bytes.NewReader(e.Data))
		d.DisallowUnknownFields()
		if err := d.Decode(&data); err != nil {
			t.Fatalf("%s: data is not the documented object: %v", b, err)
		}
		if data.Message == nil || *data.Message != tc.err.Message {
			t.Errorf("%s: message", b)
		}
		if tc.err.Code == 0 && data.Code != nil || tc.err.Code != 0 && (data.Code == nil || *data.Code != tc.err.Code) {
			t.Errorf("%s: code, want %d (0 as null)", b, tc.err.Code)
		}
		if !bytes.Contains(e.Data, []byte(`"code":`)) {
			t.Errorf("%s: code must be present, null when there is none", b)
		}
	}
}

func TestAppendEvent(t *testing.T) {
	cases := []struct {
		name                   string
		event, channel, userID string
		data                   []byte
		want                   string
	}{
		{"channel event, string data", "order-shipped", "private-orders", "", []byte(`"{\"id\":42}"`),
			`{"event":"order-shipped","channel":"private-orders","data":"{\"id\":42}"}`},
		{"presence client event", "client-typing", "presence-room", "10", []byte(`{"typing":true}`),
			`{"event":"client-typing","channel":"presence-room","data":{"typing":true},"user_id":"10"}`},
		{"cache miss without data", protocol.EventCacheMiss, "cache-x", "", nil,
			`{"event":"pusher:cache_miss","channel":"cache-x"}`},
		{"empty data left out", "e", "c", "", []byte{},
			`{"event":"e","channel":"c"}`},
		{"no channel", protocol.EventPong, "", "", []byte(`{}`),
			`{"event":"pusher:pong","data":{}}`},
		{"escaped names", `a"b`, "c\\d", "u\"1\n", []byte(`null`), ""},
	}
	for _, tc := range cases {
		prefix := []byte("keep")
		b := protocol.AppendEvent(prefix, tc.event, tc.channel, tc.data, tc.userID)
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("%s: dst overwritten: %s", tc.name, b)
		}
		b = b[len(prefix):]
		if tc.want != "" && string(b) != tc.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.name, b, tc.want)
		}
		e := decodeEnvelope(t, b)
		if *e.Event != tc.event {
			t.Errorf("%s: event %q", tc.name, *e.Event)
		}
		if (tc.channel == "") != (e.Channel == nil) || e.Channel != nil && *e.Channel != tc.channel {
			t.Errorf("%s: channel %v", tc.name, e.Channel)
		}
		if (tc.userID == "") != (e.UserID == nil) || e.UserID != nil && *e.UserID != tc.userID {
			t.Errorf("%s: user_id %v", tc.name, e.UserID)
		}
		if string(e.Data) != string(tc.data) {
			t.Errorf("%s: data %s, want %s verbatim", tc.name, e.Data, tc.data)
		}
	}
}

func TestAppendStringEvent(t *testing.T) {
	b := protocol.AppendStringEvent(nil, "e", "c", `{"x":"y"}`)
	if string(b) != `{"event":"e","channel":"c","data":"{\"x\":\"y\"}"}` {
		t.Fatalf("%s", b)
	}
	for _, tc := range []struct{ event, channel, data string }{
		{protocol.EventSubscriptionSucceeded, "private-orders", "{}"},
		{protocol.EventSubscriptionSucceeded, "presence-room", `{"presence":{"ids":["10"],"hash":{"10":{"name":"Mr. Channels"}},"count":1}}`},
		{protocol.EventMemberRemoved, "presence-room", `{"user_id":"11"}`},
		{protocol.EventWatchlist, "", `{"events":[{"name":"online","user_ids":["2"]}]}`},
		{protocol.EventSigninSuccess, "", `{"user_data":"{\"id\":\"12345\"}"}`},
		{"e", "c", ""},
		{"e", "c", "line\nbreak \u2028 \x00 \"q\" \\"},
	} {
		b := protocol.AppendStringEvent(nil, tc.event, tc.channel, tc.data)
		e := decodeEnvelope(t, b)
		if *e.Event != tc.event || (tc.channel == "") != (e.Channel == nil) || e.UserID != nil {
			t.Errorf("%s: envelope", b)
		}
		if got := dataString(t, e); got != tc.data {
			t.Errorf("%s: data %q, want %q", b, got, tc.data)
		}
	}
}

func TestFixedFrames(t *testing.T) {
	for _, tc := range []struct {
		frame []byte
		event string
	}{{protocol.PingFrame, protocol.EventPing}, {protocol.PongFrame, protocol.EventPong}} {
		e := decodeEnvelope(t, tc.frame)
		if *e.Event != tc.event || string(e.Data) != "{}" || e.Channel != nil {
			t.Errorf("%s", tc.frame)
		}
	}
}

var trickyStrings = []string{
	"",
	"plain",
	`quo"te`,
	`back\slash`,
	`\"`,
	`\u0041`,
	"/slash/",
	"nl\n\r\t\b\f",
	"\x00\x01\x07\x1f\x7f",
	"héllo ☃ 😀",
	"\u2028\u2029",
	"a\u2028b\u2029c",
	"\u00a0\u200b\ufeff",
	"\ufffd",
	"\uffff",
	"\U0010ffff",
	"bad\xffutf8",
	"\xc3",             // truncated 2-byte sequence
	"\xe2\x80",         // truncated U+2028
	"\xed\xa0\x80",     // UTF-8-encoded surrogate half
	"\xc0\xaf",         // overlong '/'
	"\xf4\x90\x80\x80", // above U+10FFFF
	"\x80\x80\x80",
	"<script>&</script>",
	strings.Repeat("ab\"\x01é", 100),
}

func TestAppendJSONStringAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range trickyStrings {
		got := protocol.AppendJSONString([]byte("x"), s)
		if got[0] != 'x' {
			t.Fatalf("%q: dst overwritten", s)
		}
		got = got[1:]
		if !utf8.Valid(got) {
			t.Errorf("%q: output is not UTF-8: %q", s, got)
		}
		if bytes.ContainsAny(got, "\u2028\u2029") {
			t.Errorf("%q: U+2028/2029 not escaped: %s", s, got)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, got, err)
		}
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var wantBack string
		if err := json.Unmarshal(want, &wantBack); err != nil {
			t.Fatal(err)
		}
		if back != wantBack {
			t.Errorf("%q: decodes to %q, encoding/json's to %q", s, back, wantBack)
		}
		if utf8.ValidString(s) && back != s {
			t.Errorf("%q: decodes to %q", s, back)
		}
	}
}

func TestAppendPosition(t *testing.T) {
	b := protocol.AppendEvent(nil, "e", "ch", []byte(`"x"`), "")
	b = protocol.AppendPosition(b, 42, `ep"1`)
	want := `{"event":"e","channel":"ch","data":"x","seq":42,"epoch":"ep\"1"}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}
