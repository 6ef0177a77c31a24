package restapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/switchboard-rt/switchboard/tenants"
)

// historyApp is the fixture's app with history on: five events per
// channel.
func historyApp(events int) *tenants.App {
	a := tenants.NewApp(appID, key, secret)
	a.HistoryMaxEvents = events
	return a
}

func TestChannelHistoryPages(t *testing.T) {
	f := newFixture(t, []*tenants.App{historyApp(5)})
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

// TestChannelHistoryOff: history is opt-in; an app without it is told so
// (404 history_disabled), not given an empty page that looks like a quiet
// channel. Its events are still published.
func TestChannelHistoryOff(t *testing.T) {
	f := newFixture(t, nil) // default settings: history_max_events 0
	f.expect(f.do(http.MethodPost, "/apps/1/events", nil, `{"name":"e","channel":"feed","data":"1"}`), http.StatusOK, "")
	f.expect(f.do(http.MethodGet, "/apps/1/channels/feed/history", nil, ""), http.StatusNotFound, "history_disabled")
	// Switched on: kept from the next event.
	f.putApp(historyApp(10))
	f.expect(f.do(http.MethodPost, "/apps/1/events", nil, `{"name":"e","channel":"feed","data":"2"}`), http.StatusOK, "")
	r := f.do(http.MethodGet, "/apps/1/channels/feed/history", nil, "")
	f.expect(r, http.StatusOK, "")
	if m := r.json(t); m["oldest"] != 2.0 || m["newest"] != 2.0 {
		t.Fatalf("after switching history on: %s", r.body)
	}
	// Off again: the endpoint says so at once.
	f.putApp(historyApp(0))
	f.expect(f.do(http.MethodGet, "/apps/1/channels/feed/history", nil, ""), http.StatusNotFound, "history_disabled")
}

// TestChannelHistoryPlanCap: an app on the free plan asking for more
// history than the plan allows keeps the plan's 100 events.
func TestChannelHistoryPlanCap(t *testing.T) {
	f := newFixture(t, nil)
	tn, err := f.store.CreateTenant(context.Background(), "small", tenants.FreePlanID, tenants.ActorCLI)
	if err != nil {
		t.Fatal(err)
	}
	a := historyApp(1000)
	a.TenantID = tn.ID
	f.putApp(a)
	var batch []string
	for i := 1; i <= 120; i++ {
		batch = append(batch, `{"name":"e","channel":"feed","data":"`+strconv.Itoa(i)+`"}`)
		if len(batch) == 10 {
			body := `{"batch":[`
			for j, b := range batch {
				if j > 0 {
					body += ","
				}
				body += b
			}
			f.expect(f.do(http.MethodPost, "/apps/1/batch_events", nil, body+`]}`), http.StatusOK, "")
			batch = batch[:0]
		}
	}
	r := f.do(http.MethodGet, "/apps/1/channels/feed/history", url.Values{"limit": {"1000"}}, "")
	f.expect(r, http.StatusOK, "")
	var p struct {
		Oldest, Newest uint64
		Events         []json.RawMessage
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatal(err)
	}
	if p.Oldest != 21 || p.Newest != 120 || len(p.Events) != 100 {
		t.Fatalf("oldest %d newest %d, %d events; want the free plan's 100: 21..120", p.Oldest, p.Newest, len(p.Events))
	}
}
