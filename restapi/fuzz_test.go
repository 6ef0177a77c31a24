package restapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/restapi"
)

// Seed corpora: testdata/fuzz/FuzzSignedRequest and
// testdata/fuzz/FuzzEventBody hold requests the SDKs send, truncated ones
// and crashers found so far.

// FuzzSignedRequest sends arbitrary paths, queries and bodies, either
// correctly signed (to reach every handler) or with the query as given
// (to exercise query parsing and the checks): nothing may panic or answer
// a 5xx, and every answer is JSON.
func FuzzSignedRequest(f *testing.F) {
	for _, s := range []struct {
		path, query, body string
		sign              bool
	}{
		{"/apps/1/events", "", `{"name":"e","channels":["c"],"data":"x"}`, true},
		{"/apps/1/channels", "filter_by_prefix=presence-&info=user_count", "", true},
		{"/apps/1/channels", "auth_key=key-1&auth_timestamp=1700000000&auth_version=1.0&auth_signature=00&info=a;b", "", false},
		{"/apps/1/channels/presence-x/users", "", "", true},
		{"/apps/1/users/7/terminate_connections", "", "{}", true},
	} {
		f.Add(s.path, s.query, s.body, s.sign)
	}
	fx := newFixture(f, nil)
	f.Fuzz(func(t *testing.T, path, query, body string, sign bool) {
		u, err := url.Parse(path)
		if err != nil || !strings.HasPrefix(u.Path, "/") || u.RawQuery != "" || u.Fragment != "" || u.Host != "" || u.Scheme != "" {
			return
		}
		method := "GET"
		if body != "" {
			method = "POST"
		}
		if sign {
			q, err := url.ParseQuery(query)
			if err != nil {
				return
			}
			for k := range q {
				if strings.HasPrefix(strings.ToLower(k), "auth_") || strings.EqualFold(k, "body_md5") {
					delete(q, k)
				}
			}
			protocol.SignRequest(key, secret, method, u.EscapedPath(), q, []byte(body), fx.unix())
			query = q.Encode()
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: query}
		req.RequestURI = req.URL.RequestURI()
		fx.tb = t
		r := fx.send(req, nil)
		if r.status >= 500 || r.status < 200 {
			t.Fatalf("%s %s?%s body %q: %d %s", method, path, query, body, r.status, r.body)
		}
		if !json.Valid([]byte(r.body)) {
			t.Fatalf("answer is not JSON: %d %q", r.status, r.body)
		}
		if r.status >= 400 {
			var e struct{ Error, Code string }
			if json.Unmarshal([]byte(r.body), &e) != nil || e.Error == "" || e.Code == "" {
				t.Fatalf("error body %q", r.body)
			}
		}
		fx.rec.take()
	})
}

// FuzzEventBody posts arbitrary signed bodies to /events and
// /batch_events. Properties: no 5xx; what is accepted is published as a
// JSON string within the size limit — and a string data byte for byte.
func FuzzEventBody(f *testing.F) {
	for _, s := range []struct {
		body  string
		batch bool
	}{
		{`{"name":"e","channels":["a","b"],"data":"{\"x\":1}","socket_id":"1.2","info":"subscription_count"}`, false},
		{`{"name":"e","channel":"c","data":{"a":[1,2.5,"\u00e9"]}}`, false},
		{`{"batch":[{"channel":"c","name":"e","data":"x","info":"user_count"},{"channel":"presence-p","name":"e","data":"y"}]}`, true},
		{`{"name":"e","channels":["c"],"data":"x`, false},
	} {
		f.Add(s.body, s.batch)
	}
	fx := newFixture(f, nil)
	f.Fuzz(func(t *testing.T, body string, batch bool) {
		fx.tb = t
		path := "/apps/1/events"
		if batch {
			path = "/apps/1/batch_events"
		}
		r := fx.do("POST", path, nil, body)
		msgs := fx.rec.take()
		if r.status >= 500 || !json.Valid([]byte(r.body)) {
			t.Fatalf("body %q: %d %s", body, r.status, r.body)
		}
		if r.status != 200 {
			if len(msgs) != 0 {
				t.Fatalf("refused request published %d", len(msgs))
			}
			return
		}
		var sent []json.RawMessage // the data of each message, as sent
		if batch {
			var req struct {
				Batch []struct{ Data json.RawMessage }
			}
			if err := json.Unmarshal([]byte(body), &req); err != nil {
				t.Fatalf("accepted %q: %v", body, err)
			}
			for _, it := range req.Batch {
				sent = append(sent, it.Data)
			}
		} else {
			var req struct{ Data json.RawMessage }
			if err := json.Unmarshal([]byte(body), &req); err != nil {
				t.Fatalf("accepted %q: %v", body, err)
			}
			for range msgs {
				sent = append(sent, req.Data)
			}
		}
		if len(sent) != len(msgs) {
			t.Fatalf("%d messages for %d events: %q", len(msgs), len(sent), body)
		}
		for i, m := range msgs {
			var s string
			if err := json.Unmarshal(m.Data, &s); err != nil || m.Data[0] != '"' {
				t.Fatalf("published data %q is not a JSON string", m.Data)
			}
			if len(s) > 10240 {
				t.Fatalf("published %d bytes", len(s))
			}
			if n := restapi.DecodedLen(m.Data); n != len(s) {
				t.Fatalf("DecodedLen(%s) = %d, decoded %d bytes", m.Data, n, len(s))
			}
			if raw := strings.TrimSpace(string(sent[i])); strings.HasPrefix(raw, `"`) && raw != string(m.Data) {
				t.Fatalf("data %s published as %s", raw, m.Data)
			}
		}
	})
}
