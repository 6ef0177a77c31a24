package protocol_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-rt/switchboard/protocol"
)

// Seeds are real frames; testdata/fuzz holds more, truncated ones included.
var frameSeeds = []string{
	`{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}`,
	`{"event":"pusher:subscribe","data":{"channel":"private-orders","auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}}`,
	`{"event":"pusher:subscribe","data":{"channel":"presence-room","auth":"k:s","channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Mr. Channels\"}}"}}`,
	`{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"12345\",\"watchlist\":[\"2\"]}"}}`,
	`{"event":"client-typing","channel":"private-chat","data":{"typing":true}}`,
	`{"event":"pusher:ping","data":{}}`,
	`{"event":"pusher:subscribe","data":{"chan`,
	`{"event":"pusher:ping"`,
	`not json`,
}

func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range frameSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := protocol.DecodeClientFrame(b)
		if err != nil {
			return
		}
		// What parses re-encodes into a frame with the same event and channel.
		out := protocol.AppendEvent(nil, fr.Event, fr.Channel, []byte(fr.Data), "")
		if len(fr.Data) == 0 {
			out = protocol.AppendEvent(nil, fr.Event, fr.Channel, nil, "")
		}
		var back protocol.ClientFrame
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-encoded frame is not JSON: %s (%v)", out, err)
		}
		if utf8.ValidString(fr.Event) && back.Event != fr.Event {
			t.Fatalf("event %q became %q", fr.Event, back.Event)
		}
		_, _ = protocol.DecodeSubscribe(fr.Data)
		_, _ = protocol.DecodeSignin(fr.Data)
	})
}

func FuzzChannelName(f *testing.F) {
	for _, s := range []string{"news", "private-a", "#server-to-user-1", "presence-cache-x", "a b", "#", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !protocol.ValidChannelName(name, 164) {
			return
		}
		if len(name) > 164 {
			t.Fatalf("too long: %d", len(name))
		}
		_ = protocol.Classify(name)
		for i := 0; i < len(name); i++ {
			c := name[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' ||
				c == '=' || c == '@' || c == ',' || c == '.' || c == ';' || (c == '#' && i == 0)
			if !ok {
				t.Fatalf("accepted byte %q in %q", c, name)
			}
		}
	})
}

func FuzzChannelData(f *testing.F) {
	for _, s := range []string{`{"user_id":10,"user_info":{"name":"x"}}`, `{"user_id":"a"}`, `{"id":"1","watchlist":["a"]}`, `{`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := protocol.ParseChannelData(s); err == nil && m.UserID == "" {
			t.Fatal("empty user id accepted")
		}
		if u, err := protocol.ParseUserData(s); err == nil && u.ID == "" {
			t.Fatal("empty id accepted")
		}
	})
}

func FuzzSignature(f *testing.F) {
	f.Add("secret", []byte("1234.1234:private-foobar"), "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
	f.Add("", []byte(""), "")
	f.Add("s", []byte("m"), "ZZ")
	f.Fuzz(func(t *testing.T, secret string, msg []byte, sig string) {
		_ = protocol.ValidSignature(secret, msg, sig)
		if !protocol.ValidSignature(secret, msg, protocol.Sign(secret, msg)) {
			t.Fatal("own signature refused")
		}
		_, _, _ = protocol.SplitAuth(sig)
	})
}

func FuzzRequestStringToSign(f *testing.F) {
	f.Add("POST", "/apps/3/events", "auth_key=k&auth_timestamp=1&body_md5=x&Info=a")
	f.Add("GET", "/apps/1/channels", "filter_by_prefix=presence-%23&info=user_count&auth_signature=zz")
	f.Fuzz(func(t *testing.T, method, path, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		_ = protocol.RequestStringToSign(method, path, q)
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "\u2028", "\xff", "😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := protocol.AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q → invalid JSON %s", s, out)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("%q round-trips to %q", s, back)
		}
	})
}
