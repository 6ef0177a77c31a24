package protocol_test

import (
	"net/url"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
)

// The signature checks on the hot paths: a private or presence subscribe
// (channel auth), and every HTTP API request (request signature and body
// hash).
//
//	go test -run '^$' -bench Valid -benchmem -count 6 ./protocol
func BenchmarkValidChannelSignature(b *testing.B) {
	msg := []byte(protocol.ChannelAuthString(docSocket, "private-foobar", ""))
	sig := protocol.Sign(docSecret, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !protocol.ValidSignature(docSecret, msg, sig) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValidRequestSignature(b *testing.B) {
	q := url.Values{"auth_key": {docKey}, "auth_timestamp": {"1353088179"}, "auth_version": {"1.0"},
		"body_md5": {docBodyMD5}, "auth_signature": {docRequestSig}}
	params := protocol.ParamsOf(q)
	body := []byte(docBody)
	b.ReportAllocs()
	for b.Loop() {
		if !protocol.ValidParamsSignature(docSecret, "POST", "/apps/3/events", params, docRequestSig) ||
			!protocol.ValidBodyMD5(body, docBodyMD5) {
			b.Fatal("invalid")
		}
	}
}
