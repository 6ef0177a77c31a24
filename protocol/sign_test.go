package protocol_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
)

// Worked examples from Pusher's public documentation.
const (
	docKey    = "278d425bdf160c739803"
	docSecret = "7ad3773142a6692b25b8"
	docSocket = "1234.1234"
)

func TestChannelAuthVectors(t *testing.T) {
	cases := []struct{ channel, channelData, want string }{
		{"private-foobar", "", "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"},
	}
	for _, tc := range cases {
		got := protocol.ChannelAuth(docKey, docSecret, docSocket, tc.channel, tc.channelData)
		if got != docKey+":"+tc.want {
			t.Errorf("%s: %s", tc.channel, got)
		}
		msg := []byte(protocol.ChannelAuthString(docSocket, tc.channel, tc.channelData))
		if !protocol.ValidSignature(docSecret, msg, tc.want) {
			t.Errorf("%s: valid signature refused", tc.channel)
		}
		if !protocol.ValidSignature(docSecret, msg, strings.ToUpper(tc.want)) {
			t.Errorf("%s: upper-case hex refused", tc.channel)
		}
	}
}

func TestUserAuthVector(t *testing.T) {
	got := protocol.UserAuth(docKey, docSecret, docSocket, `{"id":"12345"}`)
	if got != docKey+":4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba" {
		t.Fatal(got)
	}
	if protocol.UserAuthString("1.2", "x") != "1.2::user::x" {
		t.Fatal("user auth string")
	}
}

func TestValidSignatureRejects(t *testing.T) {
	good := protocol.Sign("s", []byte("m"))
	for _, sig := range []string{"", good[:63], good + "0", "zz" + good[2:], strings.Repeat("0", 64), protocol.Sign("other", []byte("m"))} {
		if protocol.ValidSignature("s", []byte("m"), sig) {
			t.Errorf("accepted %q", sig)
		}
	}
}

func TestRequestSigningVector(t *testing.T) {
	body := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	if md5 := protocol.BodyMD5(body); md5 != "ec365a775a4cd0599faeb73354201b6f" {
		t.Fatalf("body_md5 %s", md5)
	}
	q := url.Values{}
	protocol.SignRequest(docKey, docSecret, "POST", "/apps/3/events", q, body, 1353088179)
	want := "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	if q.Get("auth_signature") != want {
		t.Fatalf("signature %s", q.Get("auth_signature"))
	}
	s := protocol.RequestStringToSign("post", "/apps/3/events", q)
	if s != "POST\n/apps/3/events\nauth_key="+docKey+"&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f" {
		t.Fatalf("string to sign %q", s)
	}
}

func TestRequestStringToSignRules(t *testing.T) {
	// keys lower-cased and sorted, values decoded, auth_signature left out
	q, _ := url.ParseQuery("Info=user_count&filter_by_prefix=presence-%23x&auth_signature=abc&auth_key=k")
	got := protocol.RequestStringToSign("GET", "/apps/1/channels", q)
	if got != "GET\n/apps/1/channels\nauth_key=k&filter_by_prefix=presence-#x&info=user_count" {
		t.Fatalf("%q", got)
	}
}

func TestSplitAuth(t *testing.T) {
	for _, tc := range []struct {
		in, key, sig string
		ok           bool
	}{
		{"k:s", "k", "s", true},
		{"k:s:t", "k", "s:t", true},
		{":s", "", "", false},
		{"k:", "", "", false},
		{"ks", "", "", false},
		{"", "", "", false},
	} {
		k, s, ok := protocol.SplitAuth(tc.in)
		if k != tc.key || s != tc.sig || ok != tc.ok {
			t.Errorf("%q: %q %q %v", tc.in, k, s, ok)
		}
	}
}

func TestRequestStringToSignIsDeterministic(t *testing.T) {
	q := url.Values{"info": {"a"}, "INFO": {"b"}, "Info": {"c"}}
	first := protocol.RequestStringToSign("GET", "/p", q)
	for i := 0; i < 50; i++ {
		if got := protocol.RequestStringToSign("GET", "/p", q); got != first {
			t.Fatalf("%q then %q", first, got)
		}
	}
}
