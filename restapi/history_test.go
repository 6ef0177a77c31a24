package restapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

func TestChannelHistoryPages(t *testing.T) {
	f := newFixture(t, nil)
	for i := 1; i <= 8; i++ {
		r := f.do(http.MethodPost, "/apps/1/events", nil, `{"name":"e","channel":"feed","data":"`+strconv.Itoa(i)+`"}`)
		f.expect(r, http.StatusOK, "")
	}
	type page struct {
		Epoch  string `json:"epoch"`
		Oldest uint64 `json:"oldest"`
		Newest uint64 `json:"newest"`
		Events []struct {
			Seq   uint64 `json:"seq"`
			Event string `json:"event"`
			Data  string `json:"data"`
		} `json:"events"`
		NextAfter *uint64 `json:"next_after"`
	}
	get := func(q url.Values) page {
		t.Helper()
		r := f.do(http.MethodGet, "/apps/1/channels/feed/history", q, "")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var p page
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The history keeps five: 4..8, read two at a time.
	after := "0"
	var seen []uint64
	for {
		p := get(url.Values{"after": {after}, "limit": {"2"}})
		if p.Epoch == "" || p.Oldest != 4 || p.Newest != 8 {
			t.Fatalf("page %+v", p)
		}
		for _, e := range p.Events {
			if e.Event != "e" || e.Data != strconv.FormatUint(e.Seq, 10) {
				t.Fatalf("event %+v", e)
			}
			seen = append(seen, e.Seq)
		}
		if p.NextAfter == nil {
			break
		}
		after = strconv.FormatUint(*p.NextAfter, 10)
	}
	if len(seen) != 5 || seen[0] != 4 || seen[4] != 8 {
		t.Fatalf("paged through %v, want 4..8", seen)
	}
	for _, q := range []url.Values{{"after": {"-1"}}, {"limit": {"0"}}, {"limit": {"1001"}}, {"after": {"x"}}} {
		f.expect(f.do(http.MethodGet, "/apps/1/channels/feed/history", q, ""), http.StatusBadRequest, "bad_request")
	}
	if p := get(nil); len(p.Events) != 5 || p.NextAfter != nil {
		t.Fatalf("default page: %+v", p)
	}
}
