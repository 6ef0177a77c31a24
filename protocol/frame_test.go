package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
)

func TestDecodeClientFrame(t *testing.T) {
	f, err := protocol.DecodeClientFrame([]byte(` {"event":"client-x","channel":"private-a","data":{"a": 1}} `))
	if err != nil || f.Event != "client-x" || f.Channel != "private-a" || string(f.Data) != `{"a": 1}` {
		t.Fatalf("%+v %v", f, err)
	}
	for _, bad := range []string{``, `x`, `[]`, `{"event":5}`, `{"data":{}}`, `{"event":""}`, `{"event":"a"`, `"str"`} {
		if _, err := protocol.DecodeClientFrame([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestDecodeSubscribe(t *testing.T) {
	for _, data := range []string{
		`{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":1}"}`,
		`"{\"channel\":\"presence-a\",\"auth\":\"k:s\",\"channel_data\":\"{\\\"user_id\\\":1}\"}"`,
	} {
		d, err := protocol.DecodeSubscribe(json.RawMessage(data))
		if err != nil || d.Channel != "presence-a" || d.Auth != "k:s" || d.ChannelData != `{"user_id":1}` {
			t.Errorf("%s: %+v %v", data, d, err)
		}
	}
	for _, bad := range []string{``, `5`, `"x"`, `[1]`, `{"channel":5}`} {
		if _, err := protocol.DecodeSubscribe(json.RawMessage(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseChannelData(t *testing.T) {
	m, err := protocol.ParseChannelData(`{"user_id":10,"user_info":{"name": "Mr. Channels"}}`)
	if err != nil || m.UserID != "10" || string(m.UserInfo) != `{"name":"Mr. Channels"}` {
		t.Fatalf("%+v %v", m, err)
	}
	m, err = protocol.ParseChannelData(`{"user_id":"abc"}`)
	if err != nil || m.UserID != "abc" || m.UserInfo != nil {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{`{}`, `{"user_id":""}`, `{"user_id":true}`, `{"user_id":null}`, `[]`, `x`} {
		if _, err := protocol.ParseChannelData(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseUserData(t *testing.T) {
	u, err := protocol.ParseUserData(`{"id":"12345","user_info":{"name":"Ann"},"watchlist":["2","3"],"extra":1}`)
	if err != nil || u.ID != "12345" || string(u.UserInfo) != `{"name":"Ann"}` || len(u.Watchlist) != 2 {
		t.Fatalf("%+v %v", u, err)
	}
	for _, bad := range []string{`{"id":5}`, `{"id":""}`, `{"name":"x"}`, `x`, `{"id":"1","watchlist":"2"}`} {
		if _, err := protocol.ParseUserData(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestServerFrames(t *testing.T) {
	var env struct {
		Event   string          `json:"event"`
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
		UserID  string          `json:"user_id"`
	}
	b := protocol.ConnectionEstablished("1.2", 120)
	if err := json.Unmarshal(b, &env); err != nil || env.Event != protocol.EventConnectionEstablished {
		t.Fatalf("%s", b)
	}
	var s string
	if json.Unmarshal(env.Data, &s) != nil {
		t.Fatalf("data is not a string: %s", env.Data)
	}
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	if json.Unmarshal([]byte(s), &d) != nil || d.SocketID != "1.2" || d.ActivityTimeout != 120 {
		t.Fatalf("%s", s)
	}

	b = protocol.ErrorFrame(protocol.ErrInvalidMessage)
	if string(b) != `{"event":"pusher:error","data":{"code":null,"message":"Invalid message format"}}` {
		t.Fatalf("%s", b)
	}
	b = protocol.ChannelErrorFrame(protocol.ErrClientEventRateLimit, "private-a")
	if string(b) != `{"event":"pusher:error","channel":"private-a","data":{"code":4301,"message":"Client event rejected due to rate limit"}}` {
		t.Fatalf("%s", b)
	}
	b = protocol.AppendEvent(nil, "client-x", "presence-a", []byte(`{"a":1}`), "u\"1")
	if err := json.Unmarshal(b, &env); err != nil || env.UserID != `u"1` || string(env.Data) != `{"a":1}` {
		t.Fatalf("%s", b)
	}
	b = protocol.AppendEvent(nil, protocol.EventCacheMiss, "cache-x", nil, "")
	if string(b) != `{"event":"pusher:cache_miss","channel":"cache-x"}` {
		t.Fatalf("%s", b)
	}
	b = protocol.AppendStringEvent(nil, "e", "c", `{"x":"y"}`)
	if string(b) != `{"event":"e","channel":"c","data":"{\"x\":\"y\"}"}` {
		t.Fatalf("%s", b)
	}
}

func TestAppendJSONStringAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "nl\n\r\t", "\x00\x01\x1f", "héllo ☃ 😀", "\u2028\u2029", "bad\xffutf8", "<script>&"} {
		got := protocol.AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: invalid JSON %s", s, got)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q: decodes to %q, encoding/json gives %q", s, back, wantBack)
		}
		if strings.ContainsAny(string(got), "\u2028\u2029") {
			t.Errorf("%q: U+2028/2029 not escaped", s)
		}
	}
}

func TestNumericUserIDsPrintAsJavaScriptDoes(t *testing.T) {
	for in, want := range map[string]string{"10": "10", "1.0": "1", "1e3": "1000", "-7": "-7", "1.5": "1.5", "12345678901234567890": "12345678901234567000"} {
		m, err := protocol.ParseChannelData(`{"user_id":` + in + `}`)
		if err != nil || m.UserID != want {
			t.Errorf("%s: %q %v, want %q", in, m.UserID, err, want)
		}
	}
}
