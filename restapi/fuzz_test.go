package restapi_test

import (
	"net/url"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
)

// FuzzSignedRequest sends correctly signed requests with arbitrary bodies
// and queries: nothing may panic or answer 500.
func FuzzSignedRequest(f *testing.F) {
	seeds := []struct{ path, query, body string }{
		{"/apps/1/events", "", `{"name":"e","channels":["c"],"data":"x"}`},
		{"/apps/1/events", "", `{"name":"e","channel":"c","data":{"a":[1,2]},"socket_id":"1.2","info":"user_count,subscription_count"}`},
		{"/apps/1/batch_events", "", `{"batch":[{"channel":"c","name":"e","data":"x","info":"subscription_count"}]}`},
		{"/apps/1/events", "", `{"name":"e","channels":["private-encrypted-x"],"data":"{\"nonce\":\"a\",\"ciphertext\":\"b\"}"}`},
		{"/apps/1/channels", "filter_by_prefix=presence-&info=user_count", ""},
		{"/apps/1/channels/presence-x", "info=user_count,subscription_count,cache", ""},
		{"/apps/1/channels/presence-x/users", "", ""},
		{"/apps/1/users/7/terminate_connections", "", "{}"},
		{"/apps/1/events", "", `{"name":"e","channels":["c"],"data":"x`},
		{"/apps/1/events", "", `{"batch":null,"name":null}`},
	}
	for _, s := range seeds {
		f.Add(s.path, s.query, s.body)
	}
	fx := newFixture(&testing.T{})
	f.Fuzz(func(t *testing.T, path, query, body string) {
		u, err := url.Parse(path)
		if err != nil || u.Path == "" || u.Path[0] != '/' || u.RawQuery != "" || u.Fragment != "" {
			return
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q.Del("auth_signature")
		method := "GET"
		if body != "" {
			method = "POST"
		}
		protocol.SignRequest(key, secret, method, u.EscapedPath(), q, []byte(body), fx.now.Unix())
		fx.t = t
		r := fx.raw(method, u.EscapedPath()+"?"+q.Encode(), body, nil)
		if r.status >= 500 {
			t.Fatalf("%s %s?%s body %q: %d %s", method, path, query, body, r.status, r.body)
		}
	})
}
