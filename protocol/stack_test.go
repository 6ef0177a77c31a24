package protocol_test

import (
	"encoding/json"
	"testing"
	"unsafe"

	"github.com/switchboard-rt/switchboard/protocol"
)

// TestPingKeepsTheStackSmall: a socket's read goroutine starts with a
// 2 KiB stack, and gws's read loop with our handler takes it to 4 KiB.
// A ping decoded through encoding/json took it on to 8 KiB, on every
// socket at once when the activity timeout came round (see
// scanClientFrame). Here a goroutine's stack is grown to 4 KiB, about
// 1.3 KiB of frames stand in for the read path, and decoding must not
// move the stack again; a stack that grows is moved, so the address of a
// local tells. (The runtime may start goroutines with a larger stack, and
// then nothing moves.)
func TestPingKeepsTheStackSmall(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation makes every frame larger")
	}
	moves := func(decode func()) bool {
		moved := make(chan bool)
		go func() {
			burnStack(16, func() {}) // grow to 4 KiB
			var local byte
			before := uintptr(unsafe.Pointer(&local))
			burnStack(8, decode)
			moved <- uintptr(unsafe.Pointer(&local)) != before
		}()
		return <-moved
	}
	ping := []byte(`{"event":"pusher:ping","data":{}}`)
	var viaJSON protocol.ClientFrame
	if !moves(func() { _ = json.Unmarshal(ping, &viaJSON) }) {
		t.Log("encoding/json fits as well now")
	}
	if moves(func() { _, _ = protocol.DecodeClientFrame(ping) }) {
		t.Error("decoding a ping grew the stack")
	}
	subscribe := []byte(`{"event":"pusher:subscribe","data":{"auth":"k:s","channel":"presence-room","channel_data":"{\\"user_id\\":10}"}}`)
	if moves(func() {
		f, _ := protocol.DecodeClientFrame(subscribe)
		_, _ = protocol.DecodeSubscribe(f.Data)
	}) {
		t.Error("decoding a presence subscribe grew the stack")
	}
}

// burnStack calls f under frames frames of about 160 bytes each.
//
//go:noinline
func burnStack(frames int, f func()) byte {
	var pad [128]byte
	if frames > 0 {
		pad[1] = burnStack(frames-1, f)
	} else {
		f()
	}
	return pad[frames%len(pad)]
}
