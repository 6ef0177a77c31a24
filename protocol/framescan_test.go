package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-rt/switchboard/internal/jsonscan/jsonscantest"
)

// FuzzScanClientFrame checks scanClientFrame against encoding/json:
// wherever the fast path answers, encoding/json must accept the same frame
// and decode the same fields.
func FuzzScanClientFrame(f *testing.F) {
	jsonscantest.Fuzz(f, []string{
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}`,
		`{"event":"client-typing","channel":"private-chat","data":{"typing":true,"n":[1,2.5e3,null,"}"]}}`,
		`{"event":"client-msg","channel":"presence-room","data":"hello \u2028 \ud83d\ude00"}`,
		` { "event" : "e" , "data" : 12 } `,
		`{"event":"e","data":null}`,
		`{"event":"e","event":"f"}`,
		`{"Event":"e"}`,
		`{"event":"e\u0041"}`,
		`{"event":"e","data":{"a":}}`,
		`{"event":"e","data":[1,2}`,
		`{"event":"e","data":1}x`,
		`{"event":"e","user_id":"u"}`,
		`{}`,
	}, scanClientFrame)
}

// FuzzControlData checks the subscribe and sign-in data read by
// scanStrings against encoding/json (decodeData): the same fields, or the
// same refusal.
func FuzzControlData(f *testing.F) {
	for _, s := range []string{
		`{"auth":"","channel":"news"}`,
		`{"channel":"presence-room","auth":"k:s","channel_data":"{\"user_id\":10,\"user_info\":{\"name\":\"Ann \u00e9\ud83d\ude00\"}}"}`,
		`{"auth":"k:s","user_data":"{\"id\":\"1\"}"}`,
		`"{\"channel\":\"news\"}"`,
		`{"channel":"a","position":{}}`,
		`{"channel":null}`,
		`{"channel":"a","channel":"b"}`,
		`{"Channel":"a"}`,
		`{"channel":"\ud800x"}`,
		`{"channel":1}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		sub, err := DecodeSubscribe(b)
		refSub, refErr := decodeData[SubscribeData](b)
		if (err == nil) != (refErr == nil) || !reflect.DeepEqual(sub, refSub) {
			t.Fatalf("subscribe %q: %+v, %v; encoding/json %+v, %v", b, sub, err, refSub, refErr)
		}
		in, err := DecodeSignin(b)
		refIn, refErr := decodeData[SigninData](b)
		if (err == nil) != (refErr == nil) || in != refIn {
			t.Fatalf("signin %q: %+v, %v; encoding/json %+v, %v", b, in, err, refIn, refErr)
		}
	})
}

func TestScanClientFrameTakesWhatClientsSend(t *testing.T) {
	for _, s := range []string{
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"pusher:pong","data":{}}`,
		`{"event":"pusher:subscribe","data":{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4","channel":"private-orders"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"presence-room","auth":"k:s","channel_data":"{\"user_id\":10}"}}`,
		`{"event":"pusher:unsubscribe","data":{"channel":"news"}}`,
		`{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"1\"}"}}`,
		`{"event":"client-typing","data":{"typing":true},"channel":"private-chat"}`,
	} {
		var f ClientFrame
		if !scanClientFrame([]byte(s), &f) {
			t.Errorf("%s fell back to encoding/json", s)
		}
	}
}

func TestScanStringsTakesWhatClientsSend(t *testing.T) {
	for _, c := range []struct {
		data string
		keys []string
	}{
		{`{"auth":"","channel":"news"}`, subscribeKeys},
		{`{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4","channel":"private-orders"}`, subscribeKeys},
		{`{"channel":"presence-room","auth":"k:s","channel_data":"{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}"}`, subscribeKeys},
		{`{"auth":"k:s","user_data":"{\"id\":\"12345\",\"user_info\":{\"name\":\"Ann\"}}"}`, signinKeys},
	} {
		var a, b, d string
		if !scanStrings([]byte(c.data), c.keys, &a, &b, &d) {
			t.Errorf("%s fell back to encoding/json", c.data)
		}
	}
}

func BenchmarkDecodeClientFrame(b *testing.B) {
	for _, c := range []struct{ name, frame string }{
		{"ping", `{"event":"pusher:ping","data":{}}`},
		{"client-event", `{"event":"client-typing","channel":"private-chat","data":{"user":"ann","typing":true}}`},
	} {
		frame := []byte(c.frame)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeClientFrame(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var f ClientFrame
				if err := json.Unmarshal(frame, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
