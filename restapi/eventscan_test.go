package restapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzScanEvent checks scanEvent against encoding/json: wherever the fast
// path answers, encoding/json must accept the same body and give the same
// request.
func FuzzScanEvent(f *testing.F) {
	for _, s := range []string{
		`{"name":"e","channels":["c","d"],"data":"x"}`,
		`{"name":"my-event","channel":"ch","data":"{\"n\":1,\"s\":\"\u00e9\\\/\"}","socket_id":"1.2","info":"subscription_count"}`,
		` { "name" : "e" , "channels" : [ ] , "data" : "" } `,
		`{}`,
		`{"name":"e","data":{"a":1},"channels":["c"]}`,
		`{"name":"e","name":"f","channels":["c"],"data":"x"}`,
		`{"Name":"e","channels":["c"],"data":"x"}`,
		`{"name":"e\u0041","channels":["c"],"data":"x"}`,
		`{"name":"e","channels":["c"],"data":"x"}x`,
		`{"name":"e","channels":["c",],"data":"x"}`,
		`{"name":null,"channels":["c"],"data":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return
		}
		var fast eventRequest
		if !scanEvent(body, &fast) {
			return
		}
		var ref eventRequest
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("scanEvent accepted %q, encoding/json refused it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q:\nscanEvent     %+v\nencoding/json %+v", body, fast, ref)
		}
	})
}

func TestScanEventTakesTheSDKShape(t *testing.T) {
	body := []byte(`{"name":"my-event","channels":["a","b"],"data":"{\"message\":\"hi\"}","socket_id":"123.456"}`)
	var r eventRequest
	if !scanEvent(body, &r) {
		t.Fatal("the official SDKs' body fell back to encoding/json")
	}
	if r.Name != "my-event" || !reflect.DeepEqual(r.Channels, []string{"a", "b"}) || r.SocketID != "123.456" ||
		string(r.Data) != `"{\"message\":\"hi\"}"` {
		t.Fatalf("got %+v", r)
	}
}
