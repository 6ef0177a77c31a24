package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/pgusage"
	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/internal/stripetest"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants/pgstore"
	"github.com/switchboard-rt/switchboard/webhooks"
)

// The wiring of issue 7/10: the meter behind the edge, the API and the
// webhook worker; flush, quotas and the usage routes, in memory and on
// PostgreSQL + Redis; Stripe on a real stripe-mock.

var (
	_ edge.Usage         = meterQuotas{}
	_ restapi.Usage      = meterQuotas{}
	_ webhooks.CallMeter = meterQuotas{}
	_ contactStore       = (*pgusage.Store)(nil)
	_ contactStore       = (*memoryContacts)(nil)
	_ usageReader        = (*pgusage.Store)(nil)
	_ usageReader        = (*memoryUsage)(nil)
	_ notificationLister = (*pgusage.Store)(nil)
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// publish signs and posts one event to channels; it returns the status
// and body.
func publish(t *testing.T, addr, appID, key, secret string, channels ...string) (int, string) {
	t.Helper()
	chs, _ := json.Marshal(channels)
	body := []byte(`{"name":"metered","channels":` + string(chs) + `,"data":"{}"}`)
	q := url.Values{}
	path := "/apps/" + appID + "/events"
	protocol.SignRequest(key, secret, http.MethodPost, path, q, body, time.Now().Unix())
	resp, err := http.Post("http://"+addr+path+"?"+q.Encode(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// manage calls the management API with a tenant's token.
func manage(t *testing.T, addr, token, method, path, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, "http://"+addr+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// usageTotal sums the usage rows of a management API answer.
func usageTotal(t *testing.T, body string) (messages, published, delivered, requests int64) {
	t.Helper()
	var u struct {
		Usage []struct {
			Messages, Published, Delivered int64
			APIRequests                    int64 `json:"api_requests"`
		}
	}
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		t.Fatalf("usage body %s: %v", body, err)
	}
	for _, r := range u.Usage {
		messages += r.Messages
		published += r.Published
		delivered += r.Delivered
		requests += r.APIRequests
	}
	return
}

// contactLog receives billing contact webhooks and checks their signature.
type contactLog struct {
	mu     sync.Mutex
	secret string
	got    []string
	bad    int
}

func (c *contactLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := hmac.New(sha256.New, []byte(c.secret))
	m.Write(b)
	if r.Header.Get(ContactSignatureHeader) != hex.EncodeToString(m.Sum(nil)) {
		c.bad++
	}
	c.got = append(c.got, string(b))
}

func (c *contactLog) snapshot() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...), c.bad
}

// The embedded mode (memory store, counters and bus): publishes and
// deliveries are metered and shown by the management API, a hard-capped
// plan refuses the publish that would pass its daily limit with 403
// max_messages_per_day, and the 80 % and 100 % warnings are listed and
// POSTed, signed, to the billing contact.
func TestBillingEmbeddedMode(t *testing.T) {
	apps := writeFile(t, "apps.json", `[{"id":"h1","key":"hk","secret":"hs"}]`)
	// The apps file's apps belong to the default tenant, on the plan
	// "unlimited": the plans file caps it for this test.
	plans := writeFile(t, "plans.json", `[{"id":"unlimited","name":"Capped","max_messages_per_day":9,"billing":{"soft_cap":false}}]`)
	addr, logs, stop := startServe(t, "--apps-file", apps, "--plans-file", plans, "--webhooks-allow-private",
		"--usage-flush-interval", "20ms", "--quota-refresh-interval", "20ms")
	tok := regexp.MustCompile(`sbt_[A-Za-z0-9_-]+`).FindString(logs.String())

	contacts := &contactLog{}
	recv := httptest.NewServer(contacts)
	defer recv.Close()
	code, body := manage(t, addr, tok, "PUT", "/api/v1/billing/contact", `{"url":"`+recv.URL+`/billing"}`)
	var set struct{ Secret string }
	_ = json.Unmarshal([]byte(body), &set)
	if code != 200 || !strings.HasPrefix(set.Secret, "bcs_") {
		t.Fatalf("set contact: %d %s", code, body)
	}
	contacts.mu.Lock()
	contacts.secret = set.Secret
	contacts.mu.Unlock()
	if code, body := manage(t, addr, tok, "PUT", "/api/v1/billing/contact", `{"url":"ftp://x"}`); code != 400 {
		t.Fatalf("bad contact url: %d %s", code, body)
	}

	a, b := dialNode(t, addr), dialNode(t, addr)
	for _, s := range []*subscriber{a, b} {
		s.send(protocol.EventSubscribe, "news")
		s.await(protocol.EventSubscriptionSucceeded)
	}
	// 3 events to 2 subscribers: 3 published + 6 delivered = 9, the limit.
	for range 3 {
		if code, body := publish(t, addr, "h1", "hk", "hs", "news"); code != 200 {
			t.Fatalf("publish: %d %s", code, body)
		}
		a.await("metered")
		b.await("metered")
	}
	eventually(t, 10*time.Second, func() error {
		_, body := manage(t, addr, tok, "GET", "/api/v1/apps/h1/usage", "")
		if m, p, d, r := usageTotal(t, body); m != 9 || p != 3 || d != 6 || r != 3 {
			return fmt.Errorf("usage %d messages (%d published, %d delivered, %d requests), want 9 (3, 6, 3): %s", m, p, d, r, body)
		}
		return nil
	})
	// The refresh that saw 9 of 9 recorded both warnings.
	eventually(t, 10*time.Second, func() error {
		_, body := manage(t, addr, tok, "GET", "/api/v1/billing", "")
		if !strings.Contains(body, `"percent":80`) || !strings.Contains(body, `"percent":100`) {
			return fmt.Errorf("billing: %s", body)
		}
		return nil
	})
	code, body = publish(t, addr, "h1", "hk", "hs", "news")
	var e struct{ Code, Error string }
	_ = json.Unmarshal([]byte(body), &e)
	if code != 403 || e.Code != "max_messages_per_day" || !strings.Contains(e.Error, "max_messages_per_day") {
		t.Fatalf("over the daily limit: %d %s", code, body)
	}
	_, body = manage(t, addr, tok, "GET", "/api/v1/usage/current", "")
	if !strings.Contains(body, `"messages":9,"message_limit":9,"overage":0,"soft_cap":false`) {
		t.Fatalf("current period: %s", body)
	}
	_, body = manage(t, addr, tok, "GET", "/api/v1/usage?format=csv&granularity=day", "")
	if !regexp.MustCompile(`(?m)^\S+,h1,9,3,6,`).MatchString(body) {
		t.Fatalf("csv: %s", body)
	}
	eventually(t, 10*time.Second, func() error {
		got, bad := contacts.snapshot()
		if bad != 0 {
			t.Fatalf("%d badly signed contact webhooks", bad)
		}
		if len(got) != 2 || !strings.Contains(strings.Join(got, ""), `"percent":80`) || !strings.Contains(got[1], `"type":"quota_warning"`) {
			return fmt.Errorf("contact webhooks: %v", got)
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestPlansFileYAML(t *testing.T) {
	f := writeFile(t, "plans.yaml", `
- id: team
  name: Team
  max_connections: 50
  max_messages_per_day: 1000
  billing:
    soft_cap: true
    stripe_price_id: price_team
`)
	plans, err := loadPlansFile(f)
	if err != nil {
		t.Fatal(err)
	}
	p := plans[0]
	if len(plans) != 1 || p.Plan.ID != "team" || p.Plan.MaxConnections != 50 || p.Plan.MaxMessagesPerDay != 1000 ||
		p.Plan.MaxApps != -1 || !p.Billing.SoftCap || p.Billing.StripePriceID != "price_team" {
		t.Fatalf("%+v %+v", p.Plan, p.Billing)
	}
	typo := writeFile(t, "typo.yml", "- id: x\n  name: X\n  max_conections: 5\n")
	if _, err := loadPlansFile(typo); err == nil || !strings.Contains(err.Error(), "max_conections") {
		t.Fatalf("typo: %v", err)
	}
}

func TestBillingFlagErrors(t *testing.T) {
	badPlans := writeFile(t, "plans.json", `[{"id":"x","name":"X","max_connections":-5}]`)
	typo := writeFile(t, "typo.json", `[{"id":"x","name":"X","max_mesages_per_day":5}]`)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--usage-flush-interval", "0s"}, []string{"--usage-flush-interval"}},
		{[]string{"--usage-rollup-interval", "2h"}, []string{"--usage-rollup-interval"}},
		{[]string{"--quota-refresh-interval", "1ms"}, []string{"--quota-refresh-interval"}},
		{[]string{"--billing-grace-period", "-1s"}, []string{"--billing-grace-period"}},
		{[]string{"--stripe-webhook-secret", "whsec_x"}, []string{"--stripe-key"}},
		{[]string{"--stripe-key", "sk_test_x", "--stripe-api-base", "localhost:12111"}, []string{"--stripe-api-base"}},
		{[]string{"--plans-file", badPlans}, []string{"--plans-file", `"x"`, "max_connections"}},
		{[]string{"--plans-file", typo}, []string{"--plans-file", "max_mesages_per_day"}},
		{[]string{"--plans-file", "/nonexistent/plans.json"}, []string{"--plans-file"}},
	}
	for _, tc := range cases {
		err := run(context.Background(), append([]string{"serve", "--port", "0"}, tc.args...), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not name %q", tc.args, err, w)
			}
		}
	}
}

// stripeEvent posts a Stripe event, signed with secret as Stripe signs,
// to the node's webhook endpoint.
func stripeEvent(t *testing.T, addr, secret, typ, object string) int {
	t.Helper()
	body := fmt.Sprintf(`{"id":"evt_%d","object":"event","api_version":"2023-10-16","type":%q,"data":{"object":%s}}`,
		time.Now().UnixNano(), typ, object)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret})
	req, _ := http.NewRequest("POST", "http://"+addr+StripeWebhookPath, strings.NewReader(body))
	req.Header.Set("Stripe-Signature", sp.Header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Two nodes on PostgreSQL and Redis with Stripe (stripe-mock): the
// tenant gets a Stripe customer and subscription, the hourly rollup
// equals published + delivered across both nodes to the message, and
// the payment webhooks move the tenant past_due → suspended (4003 on
// connect, 403 tenant_suspended) → active.
func TestBillingOnPostgresRedisAndStripe(t *testing.T) {
	mock := stripetest.Start(t)
	ctx := context.Background()
	db := newDatabase(t)
	key := newSecretKey()
	dbf := []string{"--database-url", db, "--secret-key", key}
	cli(t, append([]string{"migrate", "up"}, dbf[:2]...)...)
	plans := writeFile(t, "plans.json", `[
		{"id":"unlimited","name":"Unlimited"},
		{"id":"free","name":"Free","max_messages_per_day":1000,"max_connections":10},
		{"id":"pro","name":"Pro","max_messages_per_day":100000,"max_connections":100,
		 "billing":{"soft_cap":true,"overage_cents_per_million":80,"stripe_price_id":"price_pro","stripe_metered_price_id":"price_messages"}},
		{"id":"team","name":"Team","max_messages_per_day":50000,"max_connections":50,
		 "billing":{"soft_cap":true,"stripe_price_id":"price_team","stripe_metered_price_id":"price_messages"}}]`)
	out := cli(t, append([]string{"tenants", "create", "--name", "Acme", "--plan", "pro"}, dbf...)...)
	tenant, token := field(t, out, "tenant_id"), field(t, out, "api_token")
	out = cli(t, append([]string{"apps", "create", "--tenant", tenant, "--name", "Chat"}, dbf...)...)
	app, appKey, appSecret := field(t, out, "app_id"), field(t, out, "key"), field(t, out, "secret")

	prefix := redistest.Prefix(t, redistest.Client(t))
	redisURL := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	args := append([]string{"--redis-url", redisURL, "--redis-prefix", prefix, "--plans-file", plans,
		"--usage-flush-interval", "50ms", "--usage-rollup-interval", "50ms", "--quota-refresh-interval", "50ms",
		"--stripe-key", "sk_test_123", "--stripe-api-base", mock, "--stripe-webhook-secret", "whsec_test",
		"--billing-grace-period", "400ms"}, dbf...)
	addr1, logs1, _ := startServe(t, args...)
	addr2, logs2, _ := startServe(t, args...)
	billingLogs := func() string {
		var out []string
		for _, l := range strings.Split(logs1.String()+logs2.String(), "\n") {
			if strings.Contains(l, "component=billing") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}

	keys, err := pgstore.ParseKeyring(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.Open(ctx, db, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	usage := pgusage.New(st.Pool())
	var customer, subID string
	eventually(t, 15*time.Second, func() error {
		a, err := usage.Account(ctx, tenant)
		if err != nil {
			return fmt.Errorf("no Stripe account for the tenant yet: %v", err)
		}
		if a.CustomerID == "" || a.SubscriptionID == "" || a.PlanID != "pro" {
			return fmt.Errorf("account %+v", a)
		}
		customer, subID = a.CustomerID, a.SubscriptionID
		return nil
	})
	if _, body := manage(t, addr1, token, "GET", "/api/v1/billing", ""); !strings.Contains(body, `"billing_enabled":true`) || !strings.Contains(body, `"plan_id":"pro"`) ||
		!strings.Contains(body, `"portal_url":"https://`) {
		t.Fatalf("billing: %s", body)
	}

	// 2 subscribers on each node; 5 events through alternating nodes:
	// 5 published + 20 delivered = 25 messages.
	var subs []*subscriber
	for _, addr := range []string{addr1, addr2, addr1, addr2} {
		s := dialKey(t, addr, appKey)
		s.send(protocol.EventSubscribe, "news")
		s.await(protocol.EventSubscriptionSucceeded)
		subs = append(subs, s)
	}
	for i := range 5 {
		addr := []string{addr1, addr2}[i%2]
		if code, body := publish(t, addr, app, appKey, appSecret, "news"); code != 200 {
			t.Fatalf("publish: %d %s", code, body)
		}
		for _, s := range subs {
			s.await("metered")
		}
	}
	eventually(t, 15*time.Second, func() error {
		for _, addr := range []string{addr1, addr2} {
			_, body := manage(t, addr, token, "GET", "/api/v1/apps/"+app+"/usage", "")
			if m, p, d, _ := usageTotal(t, body); m != 25 || p != 5 || d != 20 {
				return fmt.Errorf("hourly rollup on %s: %d messages (%d + %d), want 25 (5 + 20)", addr, m, p, d)
			}
			_, body = manage(t, addr, token, "GET", "/api/v1/usage?granularity=day", "")
			if m, _, _, _ := usageTotal(t, body); m != 25 {
				return fmt.Errorf("daily tenant rollup on %s: %d, want 25", addr, m)
			}
		}
		return nil
	})

	// Payment failure → past_due, then suspended after the grace period.
	if code := stripeEvent(t, addr1, "whsec_wrong", "invoice.payment_failed", `{"id":"in_1","object":"invoice","customer":"`+customer+`"}`); code != 400 {
		t.Fatalf("badly signed webhook: %d", code)
	}
	if code := stripeEvent(t, addr1, "whsec_test", "invoice.payment_failed", `{"id":"in_1","object":"invoice","customer":"`+customer+`"}`); code != 200 {
		t.Fatalf("payment_failed: %d", code)
	}
	eventually(t, 10*time.Second, func() error {
		_, body := manage(t, addr2, token, "GET", "/api/v1/billing", "")
		if !strings.Contains(body, `"status":"suspended"`) {
			return fmt.Errorf("billing: %s\nnodes' billing log:\n%s", body, billingLogs())
		}
		return nil
	})
	for _, addr := range []string{addr1, addr2} {
		eventually(t, 5*time.Second, func() error {
			if code, body := publish(t, addr, app, appKey, appSecret, "news"); code != 403 || !strings.Contains(body, `"code":"tenant_suspended"`) {
				return fmt.Errorf("suspended tenant's publish on %s: %d %s", addr, code, body)
			}
			return nil
		})
		h := &wsHandler{frames: make(chan string, 16), closed: make(chan uint16, 1)}
		ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/app/" + appKey + "?protocol=7&client=js&version=8.4.0"})
		if err != nil {
			t.Fatal(err)
		}
		go ws.ReadLoop()
		h.expectClose(t, 4003)
	}
	// Paid: active again on every node.
	if code := stripeEvent(t, addr2, "whsec_test", "invoice.paid", `{"id":"in_1","object":"invoice","customer":"`+customer+`"}`); code != 200 {
		t.Fatalf("paid: %d", code)
	}
	for _, addr := range []string{addr1, addr2} {
		eventually(t, 5*time.Second, func() error {
			if code, body := publish(t, addr, app, appKey, appSecret, "other"); code != 200 {
				return fmt.Errorf("after paying, on %s: %d %s", addr, code, body)
			}
			return tryDial(addr, appKey)
		})
	}
	// A downgrade through Stripe applies to limits at once.
	sub := `{"id":"` + subID + `","object":"subscription","customer":"` + customer + `","items":{"object":"list","data":[{"id":"si_1","object":"subscription_item","price":{"id":"price_unknown","object":"price"}}]}}`
	if code := stripeEvent(t, addr1, "whsec_test", "customer.subscription.deleted", sub); code != 200 {
		t.Fatalf("subscription deleted: %d", code)
	}
	eventually(t, 5*time.Second, func() error {
		_, body := manage(t, addr1, token, "GET", "/api/v1/usage/current", "")
		if !strings.Contains(body, `"message_limit":1000`) || !strings.Contains(body, `"connection_limit":10`) {
			return fmt.Errorf("after the move to free: %s", body)
		}
		return nil
	})

	// Plan changes made with the CLI, in another process, reach Stripe
	// within a check interval (100 ms here): back on a billed plan the
	// customer is subscribed again, another billed plan moves the
	// subscription, a plan without a Stripe price cancels it.
	account := func(want string, subscribed bool) func() error {
		return func() error {
			a, err := usage.Account(ctx, tenant)
			if err != nil || a.PlanID != want || (a.SubscriptionID != "") != subscribed || a.CustomerID != customer {
				return fmt.Errorf("account %+v %v, want plan %s (subscribed %v)\nnodes' billing log:\n%s", a, err, want, subscribed, billingLogs())
			}
			return nil
		}
	}
	eventually(t, 5*time.Second, account("free", false))
	for _, step := range []struct {
		plan       string
		subscribed bool
	}{{"pro", true}, {"team", true}, {"unlimited", false}} {
		cli(t, append([]string{"tenants", "set-plan", "--tenant", tenant, "--plan", step.plan}, dbf...)...)
		eventually(t, 10*time.Second, account(step.plan, step.subscribed))
	}
	for _, want := range []string{"subscribed again in Stripe", "subscription moved to the tenant's plan", "subscription cancelled"} {
		if !strings.Contains(billingLogs(), want) {
			t.Errorf("no %q in the nodes' billing log:\n%s", want, billingLogs())
		}
	}
}

// dialKey opens a socket on an app key and waits for the handshake.
func dialKey(t *testing.T, addr, key string) *subscriber {
	t.Helper()
	h := &wsHandler{frames: make(chan string, 64), closed: make(chan uint16, 1)}
	ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/app/" + key + "?protocol=7&client=js&version=8.6.0"})
	if err != nil {
		t.Fatal(err)
	}
	go ws.ReadLoop()
	t.Cleanup(func() { _ = ws.WriteClose(1000, nil) })
	s := &subscriber{t: t, ws: ws, h: h}
	s.await(protocol.EventConnectionEstablished)
	return s
}

// A contact that fails gets the warning again after each retry wait, and
// once it answers 2xx nothing more is sent.
func TestBillingContactRetried(t *testing.T) {
	saved := contactRetries
	contactRetries = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	t.Cleanup(func() { contactRetries = saved })

	var mu sync.Mutex
	calls := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 3 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer recv.Close()
	contacts := &memoryContacts{}
	_ = contacts.SetBillingContact(t.Context(), "t1", recv.URL, "s")
	c := newContactNotifier(&billing.MemoryNotifications{}, contacts, true, slog.New(slog.DiscardHandler))
	c.deliver(t.Context(), billing.Notification{TenantID: "t1", AppID: "a1", Quota: "max_messages_per_day", Percent: 80})
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d requests, want 2 failures and 1 success", calls)
	}
}
