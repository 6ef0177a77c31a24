package protocol_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-rt/switchboard/protocol"
)

// frameSeeds are real pusher-js frames; testdata/fuzz holds them too, with
// truncated and malformed ones.
var frameSeeds = []string{
	`{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}`,
	`{"event":"pusher:subscribe","data":{"channel":"private-orders","auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}}`,
	`{"event":"pusher:subscribe","data":{"channel":"presence-room","auth":"278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80","channel_data":"{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}"}}`,
	`{"event":"pusher:subscribe","data":{"auth":"","channel":"#server-to-user-12345"}}`,
	`{"event":"pusher:subscribe","data":"{\"channel\":\"news\"}"}`,
	`{"event":"pusher:unsubscribe","data":{"channel":"private-orders"}}`,
	`{"event":"pusher:signin","data":{"auth":"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba","user_data":"{\"id\":\"12345\",\"user_info\":{\"name\":\"Ann\"},\"watchlist\":[\"2\",\"3\"]}"}}`,
	`{"event":"client-typing","channel":"private-chat","data":{"typing":true}}`,
	`{"event":"client-msg","channel":"presence-room","data":"hello \u2028 \ud83d\ude00","user_id":"forged"}`,
	`{"event":"pusher:ping","data":{}}`,
	`{"event":"pusher:pong","data":{}}`,
	`{"event":"pusher:subscribe","data":{"chan`,
	`{"event":"pusher:ping"`,
	`{"event":"client-x","data":"\u12`,
	`{"event":"pusher:ping",}`,
	`[{"event":"pusher:ping"}]`,
	`not json`,
}

func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range frameSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := protocol.DecodeClientFrame(b)
		if err != nil {
			if fr.Event != "" || fr.Channel != "" || fr.Data != nil {
				t.Fatalf("error %v with a non-zero frame %+v", err, fr)
			}
			return
		}
		if fr.Event == "" {
			t.Fatal("decoded a frame without an event")
		}

		// What parses re-encodes: the frame the edge would forward is
		// UTF-8 JSON (a WebSocket text frame) with the same event, channel
		// and data.
		out := protocol.AppendEvent(nil, fr.Event, fr.Channel, fr.Data, "")
		if !utf8.Valid(out) {
			t.Fatalf("re-encoded frame is not UTF-8: %q", out)
		}
		var back struct {
			Event   string          `json:"event"`
			Channel *string         `json:"channel"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-encoded frame is not JSON: %s (%v)", out, err)
		}
		if back.Event != fr.Event {
			t.Fatalf("event %q became %q", fr.Event, back.Event)
		}
		if (back.Channel == nil) != (fr.Channel == "") || back.Channel != nil && *back.Channel != fr.Channel {
			t.Fatalf("channel %q became %v", fr.Channel, back.Channel)
		}
		if !bytes.Equal(back.Data, fr.Data) {
			t.Fatalf("data %s became %s", fr.Data, back.Data)
		}
		again, err := protocol.DecodeClientFrame(out)
		if err != nil || again.Event != fr.Event || again.Channel != fr.Channel || !bytes.Equal(again.Data, fr.Data) {
			t.Fatalf("re-encoded frame %s decodes to %+v, %v", out, again, err)
		}

		// The control-event parsers must not panic on any data either.
		if d, err := protocol.DecodeSubscribe(fr.Data); err == nil {
			_ = protocol.ValidChannelName(d.Channel, protocol.DefaultMaxChannelNameLength)
			_, _, _ = protocol.SplitAuth(d.Auth)
			if m, err := protocol.ParseChannelData(d.ChannelData); err == nil && m.UserID == "" {
				t.Fatal("channel_data with an empty user id accepted")
			}
		}
		if d, err := protocol.DecodeSignin(fr.Data); err == nil {
			if u, err := protocol.ParseUserData(d.UserData); err == nil && u.ID == "" {
				t.Fatal("user_data with an empty id accepted")
			}
		}
	})
}

// channelNameRE is the protocol doc's rule (§2.1), written independently of
// the package's byte table.
var channelNameRE = regexp.MustCompile(`^(?:[A-Za-z0-9_\-=@,.;]+|#server-to-user-[A-Za-z0-9_\-=@,.;]+)$`)

func FuzzChannelName(f *testing.F) {
	for _, s := range []string{
		"news", "private-orders", "presence-room", "private-encrypted-cache-x", "cache-x",
		"#server-to-user-12345", "#server-to-user-", "#foo", "#", "",
		"a b", "colon:x", "A-Za-z0-9_-=@,.;", "é", "\xff", strings.Repeat("a", 165),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		max := protocol.DefaultMaxChannelNameLength
		ok := protocol.ValidChannelName(name, max)
		want := len(name) <= max && channelNameRE.MatchString(name)
		if ok != want {
			t.Fatalf("ValidChannelName(%q) = %v, the doc's rule says %v", name, ok, want)
		}
		c := protocol.Classify(name)
		if !ok {
			return
		}
		if len(name) > max {
			t.Fatalf("accepted %d bytes", len(name))
		}
		for i := 0; i < len(name); i++ {
			b := name[i]
			allowed := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
				strings.IndexByte("_-=@,.;", b) >= 0 || b == '#' && i == 0
			if !allowed {
				t.Fatalf("accepted byte %q in %q", b, name)
			}
		}
		if strings.HasPrefix(name, "#") {
			if id, ok := protocol.ServerToUserID(name); !ok || id == "" || c.Kind != protocol.KindServerToUser {
				t.Fatalf("%q: accepted '#' name that is not a server-to-user channel", name)
			}
		}
	})
}

func FuzzChannelData(f *testing.F) {
	for _, s := range []string{
		`{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, `{"user_id":"a"}`, `{"user_id":1e2}`,
		`{"user_id":-0.5e-3}`, `{"id":"1","watchlist":["a"]}`, `{"id":5}`, `{`, `[]`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := protocol.ParseChannelData(s); err == nil {
			if m.UserID == "" {
				t.Fatal("empty user id accepted")
			}
			if m.UserInfo != nil && !json.Valid(m.UserInfo) {
				t.Fatalf("user_info %q is not JSON", m.UserInfo)
			}
		}
		if u, err := protocol.ParseUserData(s); err == nil {
			if u.ID == "" {
				t.Fatal("empty id accepted")
			}
			if u.UserInfo != nil && !json.Valid(u.UserInfo) {
				t.Fatalf("user_info %q is not JSON", u.UserInfo)
			}
		}
	})
}

func FuzzSignature(f *testing.F) {
	f.Add("7ad3773142a6692b25b8", []byte("1234.1234:private-foobar"), "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
	f.Add("7ad3773142a6692b25b8", []byte(`1234.1234::user::{"id":"12345"}`), "4708D583DADA6A56435FB8BC611C77C359A31EEBDE13337C16AB43AA6DE336BA")
	f.Add("7ad3773142a6692b25b8", []byte("1234.1234:private-foobar"), "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
	f.Add("", []byte(""), "")
	f.Add("s", []byte("m"), "ZZ")
	f.Add("s", []byte("m"), strings.Repeat("g", 64))
	f.Fuzz(func(t *testing.T, secret string, msg []byte, sig string) {
		if protocol.ValidSignature(secret, msg, sig) {
			if strings.ToLower(sig) != protocol.Sign(secret, msg) {
				t.Fatalf("accepted %q, the signature is %s", sig, protocol.Sign(secret, msg))
			}
		}
		own := protocol.Sign(secret, msg)
		if len(own) != 64 || strings.ToLower(own) != own {
			t.Fatalf("Sign gave %q, want 64 lowercase hex digits", own)
		}
		if !protocol.ValidSignature(secret, msg, own) || !protocol.ValidSignature(secret, msg, strings.ToUpper(own)) {
			t.Fatal("own signature refused")
		}
		if key, s, ok := protocol.SplitAuth(sig); ok {
			if key == "" || s == "" || key+":"+s != sig || strings.Contains(key, ":") {
				t.Fatalf("SplitAuth(%q) = %q, %q", sig, key, s)
			}
		}
	})
}

func FuzzRequestStringToSign(f *testing.F) {
	f.Add("POST", "/apps/3/events", "auth_key=k&auth_timestamp=1&body_md5=x&Info=a", []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`))
	f.Add("GET", "/apps/1/channels", "filter_by_prefix=presence-%23&info=user_count&auth_signature=zz", []byte(nil))
	f.Add("get", "/apps/1/channels/presence-room/users", "INFO=a&info=b&Info=c", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, rawQuery string, body []byte) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		s := protocol.RequestStringToSign(method, path, q)
		if !strings.HasPrefix(s, strings.ToUpper(method)+"\n"+path+"\n") {
			t.Fatalf("string to sign %q", s)
		}
		// A signed request verifies after crossing the wire.
		protocol.SignRequest("key", "secret", method, path, q, body, 1353088179)
		received, err := url.ParseQuery(q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte(protocol.RequestStringToSign(method, path, received))
		if !protocol.ValidSignature("secret", msg, received.Get("auth_signature")) {
			t.Fatalf("signed request %s does not verify", q.Encode())
		}
		if !protocol.ValidParamsSignature("secret", method, path, protocol.ParamsOf(received), received.Get("auth_signature")) {
			t.Fatalf("ValidParamsSignature refuses signed request %s", q.Encode())
		}
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := protocol.AppendJSONString(nil, s)
		if !utf8.Valid(out) {
			t.Fatalf("%q → non-UTF-8 output %q", s, out)
		}
		if bytes.ContainsAny(out, "\u2028\u2029") {
			t.Fatalf("%q → unescaped U+2028/2029 in %s", s, out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q → invalid JSON %s", s, out)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		if err := json.Unmarshal(want, &wantBack); err != nil {
			t.Fatal(err)
		}
		if back != wantBack {
			t.Fatalf("%q decodes to %q, encoding/json's to %q", s, back, wantBack)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("%q round-trips to %q", s, back)
		}
	})
}
