package protocol

import (
	"encoding/json"
	"testing"
	"unsafe"

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

// TestPingKeepsTheStackSmall: a socket's read goroutine starts with a
// 2 KiB stack, and a ping decoded through encoding/json outgrew it, so
// every socket's stack doubled twice when the activity timeout came round
// (see scanClientFrame). A goroutine whose stack grows is moved, so the
// address of a local tells.
func TestPingKeepsTheStackSmall(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector's instrumentation makes every frame larger")
	}
	ping := []byte(`{"event":"pusher:ping","data":{}}`)
	moves := func(decode func()) bool {
		moved := make(chan bool)
		go func() {
			var local byte
			before := uintptr(unsafe.Pointer(&local))
			decode()
			moved <- uintptr(unsafe.Pointer(&local)) != before
		}()
		return <-moved
	}
	var viaJSON ClientFrame
	if !moves(func() { _ = json.Unmarshal(ping, &viaJSON) }) {
		t.Log("encoding/json no longer outgrows a new goroutine's stack either")
	}
	if moves(func() { _, _ = DecodeClientFrame(ping) }) {
		t.Error("decoding a ping outgrew a new goroutine's stack")
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
