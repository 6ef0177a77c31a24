package protocol_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
)

// Worked examples from Pusher's public documentation (protocol doc §3.2, §5.1).
const (
	docKey    = "278d425bdf160c739803"
	docSecret = "7ad3773142a6692b25b8"
	docSocket = "1234.1234"

	docBody          = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	docBodyMD5       = "ec365a775a4cd0599faeb73354201b6f"
	docRequestSig    = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	docTimestamp     = 1353088179
	docRequestString = "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
)

// signVectors are the documented signatures, each with the string it signs
// and the token an auth endpoint would hand its client.
var signVectors = []struct {
	name     string
	toSign   string // built by the package from the inputs below
	wantSign string // what the doc says toSign must be
	token    string // ChannelAuth / UserAuth output ("" for the HTTP vector)
	sig      string
}{
	{
		name:     "private channel",
		toSign:   protocol.ChannelAuthString(docSocket, "private-foobar", ""),
		wantSign: "1234.1234:private-foobar",
		token:    protocol.ChannelAuth(docKey, docSecret, docSocket, "private-foobar", ""),
		sig:      "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
	},
	{
		name:     "presence channel",
		toSign:   protocol.ChannelAuthString(docSocket, "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`),
		wantSign: `1234.1234:presence-foobar:{"user_id":10,"user_info":{"name":"Mr. Channels"}}`,
		token:    protocol.ChannelAuth(docKey, docSecret, docSocket, "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`),
		sig:      "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80",
	},
	{
		name:     "user authentication",
		toSign:   protocol.UserAuthString(docSocket, `{"id":"12345"}`),
		wantSign: `1234.1234::user::{"id":"12345"}`,
		token:    protocol.UserAuth(docKey, docSecret, docSocket, `{"id":"12345"}`),
		sig:      "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba",
	},
	{
		name: "HTTP request",
		toSign: protocol.RequestStringToSign("POST", "/apps/3/events", url.Values{
			"auth_key":       {docKey},
			"auth_timestamp": {"1353088179"},
			"auth_version":   {"1.0"},
			"body_md5":       {docBodyMD5},
		}),
		wantSign: docRequestString,
		sig:      docRequestSig,
	},
}

func TestSignVectors(t *testing.T) {
	for _, tc := range signVectors {
		t.Run(tc.name, func(t *testing.T) {
			if tc.toSign != tc.wantSign {
				t.Fatalf("string to sign %q, want %q", tc.toSign, tc.wantSign)
			}
			if got := protocol.Sign(docSecret, []byte(tc.toSign)); got != tc.sig {
				t.Errorf("Sign = %s, want %s", got, tc.sig)
			}
			if tc.token != "" && tc.token != docKey+":"+tc.sig {
				t.Errorf("auth token = %s, want %s:%s", tc.token, docKey, tc.sig)
			}
			msg := []byte(tc.toSign)
			if !protocol.ValidSignature(docSecret, msg, tc.sig) {
				t.Error("documented signature refused")
			}
			if !protocol.ValidSignature(docSecret, msg, strings.ToUpper(tc.sig)) {
				t.Error("upper-case hex refused")
			}
			if protocol.ValidSignature("wrong-secret", msg, tc.sig) {
				t.Error("signature accepted under another secret")
			}
			if protocol.ValidSignature(docSecret, append(msg, 'x'), tc.sig) {
				t.Error("signature accepted for another message")
			}
		})
	}
}

func TestValidSignature(t *testing.T) {
	msg := []byte("1234.1234:private-foobar")
	good := protocol.Sign(docSecret, msg)
	flipped := []byte(good)
	flipped[10] ^= 1 // '8' → '9': still hex, wrong digest
	cases := []struct {
		name string
		sig  string
		want bool
	}{
		{"good", good, true},
		{"upper-case hex", strings.ToUpper(good), true},
		{"mixed-case hex", strings.ToUpper(good[:32]) + good[32:], true},
		{"one digit wrong", string(flipped), false},
		{"other message", protocol.Sign(docSecret, []byte("1234.1234:private-other")), false},
		{"other secret", protocol.Sign("other", msg), false},
		{"all zero", strings.Repeat("0", 64), false},
		{"empty", "", false},
		{"too short", good[:63], false},
		{"too long", good + "0", false},
		{"half length", good[:32], false},
		{"raw bytes length", good[:32] + "\x00", false},
		{"non-hex", "zz" + good[2:], false},
		{"non-hex at end", good[:63] + "g", false},
		{"space", " " + good[1:], false},
		{"multibyte rune", "é" + good[2:], false},
		{"key:sig token", docKey + ":" + good, false},
	}
	for _, tc := range cases {
		if got := protocol.ValidSignature(docSecret, msg, tc.sig); got != tc.want {
			t.Errorf("%s: ValidSignature(%q) = %v, want %v", tc.name, tc.sig, got, tc.want)
		}
	}
}

func TestBodyMD5(t *testing.T) {
	cases := []struct{ body, want string }{
		{docBody, docBodyMD5},
		{"", "d41d8cd98f00b204e9800998ecf8427e"},
		{"{}", "99914b932bd37a50b983c5e7c90ae93b"},
	}
	for _, tc := range cases {
		if got := protocol.BodyMD5([]byte(tc.body)); got != tc.want {
			t.Errorf("BodyMD5(%q) = %s, want %s", tc.body, got, tc.want)
		}
	}
}

// The HTTP API checks a signature and a body hash on every request: with
// the keyed HMAC pooled per secret, neither allocates.
func TestRequestChecksDoNotAllocate(t *testing.T) {
	q := url.Values{"auth_key": {docKey}, "auth_timestamp": {"1353088179"}, "auth_version": {"1.0"},
		"body_md5": {docBodyMD5}, "auth_signature": {docRequestSig}}
	params := protocol.ParamsOf(q)
	body := []byte(docBody)
	if !protocol.ValidParamsSignature(docSecret, "POST", "/apps/3/events", params, docRequestSig) {
		t.Fatal("the documented request does not verify")
	}
	allocs := testing.AllocsPerRun(100, func() {
		protocol.ValidParamsSignature(docSecret, "POST", "/apps/3/events", params, docRequestSig)
		protocol.ValidBodyMD5(body, docBodyMD5)
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per signed request check, want 0", allocs)
	}
	if !protocol.ValidBodyMD5(body, strings.ToUpper(docBodyMD5)) || protocol.ValidBodyMD5(body, docBodyMD5[1:]) {
		t.Error("ValidBodyMD5: hex case must not matter, length must")
	}
}

func TestRequestStringToSign(t *testing.T) {
	cases := []struct {
		name, method, path, rawQuery, want string
	}{
		{
			name: "doc vector, query in any order", method: "POST", path: "/apps/3/events",
			rawQuery: "body_md5=" + docBodyMD5 + "&auth_version=1.0&auth_timestamp=1353088179&auth_key=" + docKey,
			want:     docRequestString,
		},
		{
			name: "auth_signature left out", method: "POST", path: "/apps/3/events",
			rawQuery: "auth_signature=" + docRequestSig + "&auth_key=" + docKey + "&auth_timestamp=1353088179&auth_version=1.0&body_md5=" + docBodyMD5,
			want:     docRequestString,
		},
		{
			name: "method upper-cased", method: "post", path: "/apps/3/events",
			rawQuery: "auth_key=" + docKey + "&auth_timestamp=1353088179&auth_version=1.0&body_md5=" + docBodyMD5,
			want:     docRequestString,
		},
		{
			name: "keys lower-cased and sorted", method: "GET", path: "/apps/1/channels",
			rawQuery: "Info=user_count&FILTER_BY_PREFIX=presence-&Auth_Key=k&AUTH_SIGNATURE=x",
			want:     "GET\n/apps/1/channels\nauth_key=k&filter_by_prefix=presence-&info=user_count",
		},
		{
			name: "values URL-decoded", method: "GET", path: "/apps/1/channels",
			rawQuery: "filter_by_prefix=presence-%23x&info=user_count%2Csubscription_count&q=a+b&auth_key=k",
			want:     "GET\n/apps/1/channels\nauth_key=k&filter_by_prefix=presence-#x&info=user_count,subscription_count&q=a b",
		},
		{
			name: "byte-order sort (underscore after letters)", method: "GET", path: "/p",
			rawQuery: "a_b=1&ab=2&a=3&B=4",
			want:     "GET\n/p\na=3&a_b=1&ab=2&b=4",
		},
		{
			name: "empty values kept", method: "GET", path: "/p",
			rawQuery: "info=&auth_key=k",
			want:     "GET\n/p\nauth_key=k&info=",
		},
		{
			name: "path as received", method: "GET", path: "/apps/3/channels/presence-room/users",
			rawQuery: "auth_key=k",
			want:     "GET\n/apps/3/channels/presence-room/users\nauth_key=k",
		},
		{
			name: "no query", method: "GET", path: "/apps/3/channels",
			want: "GET\n/apps/3/channels\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.rawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if got := protocol.RequestStringToSign(tc.method, tc.path, q); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRequestStringToSignIsDeterministic(t *testing.T) {
	// Names differing only in case are refused by the API, but the string
	// to sign must still not depend on map order.
	q := url.Values{"info": {"a"}, "INFO": {"b"}, "Info": {"c"}}
	first := protocol.RequestStringToSign("GET", "/p", q)
	for i := 0; i < 50; i++ {
		if got := protocol.RequestStringToSign("GET", "/p", q); got != first {
			t.Fatalf("%q then %q", first, got)
		}
	}
}

func TestSignRequest(t *testing.T) {
	t.Run("doc vector", func(t *testing.T) {
		q := url.Values{}
		protocol.SignRequest(docKey, docSecret, "POST", "/apps/3/events", q, []byte(docBody), docTimestamp)
		want := url.Values{
			"auth_key":       {docKey},
			"auth_timestamp": {"1353088179"},
			"auth_version":   {"1.0"},
			"body_md5":       {docBodyMD5},
			"auth_signature": {docRequestSig},
		}
		if q.Encode() != want.Encode() {
			t.Fatalf("query\n got  %s\n want %s", q.Encode(), want.Encode())
		}
	})

	cases := []struct {
		name, method, path string
		query              url.Values
		body               string
	}{
		{"POST with body", "POST", "/apps/3/events", url.Values{}, docBody},
		{"GET with params", "GET", "/apps/3/channels", url.Values{"filter_by_prefix": {"presence-#x"}, "info": {"user_count"}}, ""},
		{"stale signature replaced", "POST", "/apps/3/users/7/terminate_connections", url.Values{"auth_signature": {"stale"}}, "{}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.query
			protocol.SignRequest(docKey, docSecret, tc.method, tc.path, q, []byte(tc.body), docTimestamp)
			if _, ok := q["body_md5"]; ok != (tc.body != "") {
				t.Errorf("body_md5 present = %v for body %q", ok, tc.body)
			}
			if len(q["auth_signature"]) != 1 {
				t.Fatalf("auth_signature %q", q["auth_signature"])
			}
			// Round trip as a server sees it: through the wire encoding,
			// then the string to sign rebuilt from the received query.
			received, err := url.ParseQuery(q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte(protocol.RequestStringToSign(tc.method, tc.path, received))
			if !protocol.ValidSignature(docSecret, msg, received.Get("auth_signature")) {
				t.Errorf("signature does not verify: %s", q.Encode())
			}
			if protocol.ValidSignature(docSecret, []byte(protocol.RequestStringToSign(tc.method, tc.path+"x", received)), received.Get("auth_signature")) {
				t.Error("signature verifies for another path")
			}
			if protocol.BodyMD5([]byte(tc.body)) != received.Get("body_md5") && tc.body != "" {
				t.Error("body_md5 does not match the body")
			}
		})
	}
}

func TestSplitAuth(t *testing.T) {
	sig := "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
	cases := []struct {
		in, key, sig string
		ok           bool
	}{
		{docKey + ":" + sig, docKey, sig, true},
		{"k:s", "k", "s", true},
		{"k:s:t", "k", "s:t", true}, // split at the first colon
		{"k::", "k", ":", true},
		{":s", "", "", false},
		{"k:", "", "", false},
		{":", "", "", false},
		{"ks", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range cases {
		k, s, ok := protocol.SplitAuth(tc.in)
		if k != tc.key || s != tc.sig || ok != tc.ok {
			t.Errorf("SplitAuth(%q) = %q, %q, %v; want %q, %q, %v", tc.in, k, s, ok, tc.key, tc.sig, tc.ok)
		}
	}
}

func TestWebhookSignature(t *testing.T) {
	body := []byte(`{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`)
	sig := protocol.WebhookSignature(docSecret, body)
	if sig != protocol.Sign(docSecret, body) || !protocol.ValidSignature(docSecret, body, sig) {
		t.Fatalf("webhook signature %s", sig)
	}
}
