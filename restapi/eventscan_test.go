package restapi

import (
	"reflect"
	"testing"

	"github.com/switchboard-rt/switchboard/internal/jsonscan/jsonscantest"
)

// FuzzScanEvent checks scanEvent against encoding/json: wherever the fast
// path answers, encoding/json must accept the same body and give the same
// request.
func FuzzScanEvent(f *testing.F) {
	jsonscantest.Fuzz(f, []string{
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
	}, scanEvent)
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
