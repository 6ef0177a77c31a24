package restapi_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants"
)

// TestPusherDocWorkedExample replays the request of the protocol doc
// (§5.1), byte for byte, with the clock at its timestamp.
func TestPusherDocWorkedExample(t *testing.T) {
	f := newFixture(t, []*tenants.App{tenants.NewApp("3", "278d425bdf160c739803", "7ad3773142a6692b25b8")})
	f.now = time.Unix(1353088179, 0)
	body := `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	q := "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0" +
		"&body_md5=ec365a775a4cd0599faeb73354201b6f" +
		"&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	r := f.raw("POST", "/apps/3/events?"+q, body, nil)
	f.expect(r, 200, "")
	if r.body != "{}" {
		t.Fatalf("body %q", r.body)
	}
	msgs := f.rec.all()
	if len(msgs) != 1 || msgs[0].AppID != "3" || msgs[0].Channel != "project-3" || msgs[0].Event != "foo" ||
		string(msgs[0].Data) != `"{\"some\":\"data\"}"` {
		t.Fatalf("published %+v", msgs)
	}

	// The same request 601 s later is stale; one bit off in the signature
	// is refused and the message names the string to sign.
	f.now = time.Unix(1353088179+601, 0)
	f.expect(f.raw("POST", "/apps/3/events?"+q, body, nil), 401, "timestamp_expired")
	f.now = time.Unix(1353088179, 0)
	bad := strings.Replace(q, "7e6c", "7e6d", 1)
	r = f.raw("POST", "/apps/3/events?"+bad, body, nil)
	f.expect(r, 401, "invalid_signature")
	want := `HmacSHA256Hex("POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f", your_secret_key)`
	if msg := r.json(t)["error"].(string); !strings.Contains(msg, want) {
		t.Fatalf("message %q lacks %q", msg, want)
	}
	if strings.Contains(r.body, "7ad3773142a6692b25b8") {
		t.Fatalf("secret leaked: %s", r.body)
	}
}

func TestAuthFailures(t *testing.T) {
	disabled := tenants.NewApp("2", "key-2", "secret-2")
	disabled.Enabled = false
	f := newFixture(t, []*tenants.App{tenants.NewApp(appID, key, secret), disabled})
	body := `{"name":"e","channels":["c"],"data":"x"}`
	now := f.unix()
	signed := func(mutate func(q url.Values)) string {
		q := url.Values{}
		protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, []byte(body), now)
		mutate(q)
		return "/apps/1/events?" + q.Encode()
	}
	for _, tc := range []struct {
		name   string
		r      response
		status int
		code   string
	}{
		{"good", f.doAs(key, secret, "POST", "/apps/1/events", nil, body, now), 200, ""},
		{"wrong secret", f.doAs(key, "wrong", "POST", "/apps/1/events", nil, body, now), 401, "invalid_signature"},
		{"stale 601 s", f.doAs(key, secret, "POST", "/apps/1/events", nil, body, now-601), 401, "timestamp_expired"},
		{"future 601 s", f.doAs(key, secret, "POST", "/apps/1/events", nil, body, now+601), 401, "timestamp_expired"},
		{"600 s old", f.doAs(key, secret, "POST", "/apps/1/events", nil, body, now-600), 200, ""},
		{"600 s ahead", f.doAs(key, secret, "POST", "/apps/1/events", nil, body, now+600), 200, ""},
		{"unknown key", f.doAs("nope", secret, "POST", "/apps/1/events", nil, body, now), 401, "unknown_auth_key"},
		{"key of another app", f.doAs("key-2", "secret-2", "POST", "/apps/1/events", nil, body, now), 401, "unknown_auth_key"},
		{"unknown app", f.doAs(key, secret, "POST", "/apps/99/events", nil, body, now), 404, "app_not_found"},
		{"unknown app, unsigned", f.raw("POST", "/apps/99/events", body, nil), 404, "app_not_found"},
		{"disabled app", f.doAs("key-2", "secret-2", "POST", "/apps/2/events", nil, body, now), 403, "app_disabled"},
		{"disabled app, bad signature", f.doAs("key-2", "wrong", "POST", "/apps/2/events", nil, body, now), 401, "invalid_signature"},
		{"wrong body_md5", f.raw("POST", signed(func(url.Values) {}), `{"name":"e","channels":["c"],"data":"y"}`, nil), 401, "body_md5_mismatch"},
		{"body_md5 missing", f.raw("POST", signed(func(q url.Values) { q.Del("body_md5") }), body, nil), 401, "body_md5_missing"},
		{"signature missing", f.raw("POST", signed(func(q url.Values) { q.Del("auth_signature") }), body, nil), 401, "auth_signature_missing"},
		{"signature not hex", f.raw("POST", signed(func(q url.Values) { q.Set("auth_signature", "zz") }), body, nil), 401, "invalid_signature"},
		{"key missing", f.raw("POST", signed(func(q url.Values) { q.Del("auth_key") }), body, nil), 401, "auth_key_missing"},
		{"timestamp not a number", f.raw("POST", signed(func(q url.Values) { q.Set("auth_timestamp", "soon") }), body, nil), 401, "auth_timestamp"},
		{"timestamp missing", f.raw("POST", signed(func(q url.Values) { q.Del("auth_timestamp") }), body, nil), 401, "auth_timestamp"},
		{"auth_version 2.0", f.raw("POST", signed(func(q url.Values) { q.Set("auth_version", "2.0") }), body, nil), 401, "auth_version"},
		{"a param added after signing", f.raw("POST", signed(func(q url.Values) { q.Set("info", "subscription_count") }), body, nil), 401, "invalid_signature"},
		{"no query at all", f.raw("GET", "/apps/1/channels", "", nil), 401, "auth_key_missing"},
		{"bad escape in query", f.raw("GET", "/apps/1/channels?auth_key=%zz", "", nil), 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) { f.tb = t; f.expect(tc.r, tc.status, tc.code) })
	}
}

// TestAuthVersionMayBeMissing: the doc says to tolerate a missing
// auth_version.
func TestAuthVersionMayBeMissing(t *testing.T) {
	f := newFixture(t, nil)
	q := url.Values{"auth_key": {key}, "auth_timestamp": {strconv.FormatInt(f.unix(), 10)}}
	q.Set("auth_signature", protocol.Sign(secret, []byte(protocol.RequestStringToSign("GET", "/apps/1/channels", q))))
	f.expect(f.raw("GET", "/apps/1/channels?"+q.Encode(), "", nil), 200, "")
}

func TestTimestampWindowIsConfigurable(t *testing.T) {
	f := newFixture(t, nil, func(o *restapi.Options) { o.TimestampWindow = 30 * time.Second })
	f.expect(f.doAs(key, secret, "GET", "/apps/1/channels", nil, "", f.unix()-30), 200, "")
	f.expect(f.doAs(key, secret, "GET", "/apps/1/channels", nil, "", f.unix()-31), 401, "timestamp_expired")
}

// TestAnyActiveKeySigns: during a secret rotation both keys work, each
// with its own secret only.
func TestAnyActiveKeySigns(t *testing.T) {
	app := tenants.NewApp(appID, key, secret)
	app.Keys = append(app.Keys, tenants.Key{Key: "key-new", Secret: "secret-new"})
	f := newFixture(t, []*tenants.App{app})
	f.expect(f.doAs(key, secret, "GET", "/apps/1/channels", nil, "", f.unix()), 200, "")
	f.expect(f.doAs("key-new", "secret-new", "GET", "/apps/1/channels", nil, "", f.unix()), 200, "")
	f.expect(f.doAs("key-new", secret, "GET", "/apps/1/channels", nil, "", f.unix()), 401, "invalid_signature")
}

// TestQueryOrderAndNameCaseDoNotMatter: the string to sign sorts the
// parameters and lower-cases their names, so neither the order nor the
// case of names as sent matters, and handlers read the same parameters.
func TestQueryOrderAndNameCaseDoNotMatter(t *testing.T) {
	f := newFixture(t, nil)
	_, _ = f.state.AddMember(t.Context(), appID, "presence-room", "1.1", protocol.Member{UserID: "u"}, 0)
	q := url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}
	protocol.SignRequest(key, secret, "GET", "/apps/1/channels", q, nil, f.unix())
	enc := func(k string) string { return url.QueryEscape(q.Get(k)) }
	for _, raw := range []string{
		q.Encode(),
		"INFO=" + enc("info") + "&Auth_Signature=" + enc("auth_signature") + "&filter_by_prefix=" + enc("filter_by_prefix") +
			"&AUTH_VERSION=1.0&auth_timestamp=" + enc("auth_timestamp") + "&auth_key=" + enc("auth_key"),
		// unescaped commas and ordering as pusher-http-node sends them
		"auth_key=" + key + "&auth_signature=" + q.Get("auth_signature") + "&auth_timestamp=" + q.Get("auth_timestamp") +
			"&auth_version=1.0&filter_by_prefix=presence-&info=user_count",
	} {
		f.expectJSON(f.raw("GET", "/apps/1/channels?"+raw, "", nil), `{"channels":{"presence-room":{"user_count":1}}}`)
	}
}

// TestDuplicateQueryParameters: the string to sign keeps one value per
// name, so a second value (in any case) could smuggle an unsigned one.
func TestDuplicateQueryParameters(t *testing.T) {
	f := newFixture(t, nil)
	q := url.Values{"info": {"subscription_count"}}
	protocol.SignRequest(key, secret, "GET", "/apps/1/channels/news", q, nil, f.unix())
	f.expect(f.raw("GET", "/apps/1/channels/news?"+q.Encode(), "", nil), 200, "")
	for _, extra := range []string{"&INFO=user_count", "&info=user_count", "&Auth_Key=other"} {
		f.expect(f.raw("GET", "/apps/1/channels/news?"+q.Encode()+extra, "", nil), 400, "bad_request")
	}
}

// TestEscapedAndDecodedPathsBothSign: a #server-to-user- channel in a path
// is sent as %23; SDKs sign either form.
func TestEscapedAndDecodedPathsBothSign(t *testing.T) {
	f := newFixture(t, nil)
	_, _ = f.state.AddSubscription(t.Context(), appID, "#server-to-user-7", "1.1")
	for _, signed := range []string{"/apps/1/channels/#server-to-user-7", "/apps/1/channels/%23server-to-user-7"} {
		q := url.Values{}
		protocol.SignRequest(key, secret, "GET", signed, q, nil, f.unix())
		f.expectJSON(f.raw("GET", "/apps/1/channels/%23server-to-user-7?"+q.Encode(), "", nil), `{"occupied":true}`)
	}
}

func TestGzipBodies(t *testing.T) {
	f := newFixture(t, nil)
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = w.Write([]byte(s))
		_ = w.Close()
		return b.Bytes()
	}
	body := `{"name":"e","channels":["c"],"data":"zipped"}`
	zipped := gz(body)
	gzipHeader := http.Header{"Content-Encoding": {"gzip"}}
	post := func(md5Of []byte, sent []byte) response {
		q := url.Values{}
		protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, md5Of, f.unix())
		return f.raw("POST", "/apps/1/events?"+q.Encode(), string(sent), gzipHeader)
	}
	// body_md5 over the bytes as sent
	f.expect(post(zipped, zipped), 200, "")
	if m := f.rec.take(); len(m) != 1 || string(m[0].Data) != `"zipped"` {
		t.Fatalf("published %+v", m)
	}
	// a sender that hashed the JSON inside is accepted too
	f.expect(post([]byte(body), zipped), 200, "")
	f.expect(post([]byte(`{"other":1}`), zipped), 401, "body_md5_mismatch")
	// not gzip at all, but signed: 400 after authentication
	f.expect(post([]byte(body), []byte(body)), 400, "bad_request")
	// a gzip bomb is cut at the cap
	bomb := gz(`{"name":"e","channels":["c"],"data":"` + strings.Repeat("a", restapi.DefaultMaxBodyBytes) + `"}`)
	f.expect(post(bomb, bomb), 413, "payload_too_large")
	if n := len(f.rec.take()); n != 1 {
		t.Fatalf("%d published", n)
	}
}
