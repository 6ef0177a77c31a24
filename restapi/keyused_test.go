package restapi_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/restapi"
)

// TestKeyUsedOnlyAfterTheSignature: a request reports its auth_key as
// used only once its signature holds, so guessed keys leave no trace.
func TestKeyUsedOnlyAfterTheSignature(t *testing.T) {
	var mu sync.Mutex
	var used []string
	f := newFixture(t, nil, func(o *restapi.Options) {
		o.KeyUsed = func(k string) { mu.Lock(); used = append(used, k); mu.Unlock() }
	})
	body := `{"name":"ev","channel":"c","data":"{}"}`
	f.expect(f.doAs(key, "wrong-secret", "POST", "/apps/"+appID+"/events", nil, body, f.unix()), http.StatusUnauthorized, "invalid_signature")
	mu.Lock()
	if len(used) != 0 {
		t.Fatalf("a bad signature reported %v", used)
	}
	mu.Unlock()
	if r := f.do("POST", "/apps/"+appID+"/events", nil, body); r.status != http.StatusOK {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(used) != 1 || used[0] != key {
		t.Fatalf("used %v, want [%s]", used, key)
	}
}
