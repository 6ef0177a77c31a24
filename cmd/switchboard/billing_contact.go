package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/webhooks"
)

// contactStore keeps each tenant's billing contact URL and the secret
// its webhooks are signed with: billing/pgusage (migration 00012) or
// memoryContacts.
type contactStore interface {
	BillingContact(ctx context.Context, tenantID string) (url, secret string, err error)
	SetBillingContact(ctx context.Context, tenantID, url, secret string) error
}

// memoryContacts is a contactStore in process.
type memoryContacts struct {
	mu sync.Mutex
	m  map[string][2]string
}

func (c *memoryContacts) BillingContact(_ context.Context, tenantID string) (string, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[tenantID]
	if !ok {
		return "", "", tenants.ErrNotFound
	}
	return v[0], v[1], nil
}

func (c *memoryContacts) SetBillingContact(_ context.Context, tenantID, url, secret string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][2]string{}
	}
	if url == "" {
		delete(c.m, tenantID)
	} else {
		c.m[tenantID] = [2]string{url, secret}
	}
	return nil
}

// ContactSignatureHeader carries hex(HMAC-SHA256(secret, body)) on a
// billing contact webhook.
const ContactSignatureHeader = "X-Switchboard-Signature"

// contactNotifier records quota warnings through the inner Notifier and,
// for each new one whose tenant has a billing contact URL, POSTs it
// there as signed JSON. Sending happens in Run, off the quota refresh;
// a failed request is retried (contactRetries), then logged and dropped,
// as is a warning that finds the queue full (the warning stays in the
// management API either way).
type contactNotifier struct {
	inner    billing.Notifier
	contacts contactStore
	client   *http.Client
	log      *slog.Logger
	queue    chan billing.Notification
}

func newContactNotifier(inner billing.Notifier, contacts contactStore, allowPrivate bool, log *slog.Logger) *contactNotifier {
	return &contactNotifier{inner: inner, contacts: contacts, log: log, queue: make(chan billing.Notification, 256),
		client: webhooks.Client(allowPrivate, 10*time.Second)}
}

// Notify implements billing.Notifier.
func (c *contactNotifier) Notify(ctx context.Context, n billing.Notification) (bool, error) {
	fresh, err := c.inner.Notify(ctx, n)
	if err != nil || !fresh {
		return fresh, err
	}
	select {
	case c.queue <- n:
	default:
		c.log.Warn("billing contact webhook queue full; warning not sent", "tenant_id", n.TenantID, "app_id", n.AppID)
	}
	return true, nil
}

// contactRetries are the waits before each retry of a failed contact
// webhook; warnings are rare (two per app and day at most), so one
// sender may wait them out.
var contactRetries = []time.Duration{2 * time.Second, 10 * time.Second, time.Minute}

// Run sends queued warnings until ctx ends.
func (c *contactNotifier) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-c.queue:
			c.deliver(ctx, n)
		}
	}
}

// deliver sends n, retrying a failure after each of contactRetries.
func (c *contactNotifier) deliver(ctx context.Context, n billing.Notification) {
	for attempt := 0; ; attempt++ {
		err := c.send(ctx, n)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == len(contactRetries) {
			c.log.Warn("billing contact webhook failed; giving up (the warning stays in GET /api/v1/billing)",
				"tenant_id", n.TenantID, "attempts", attempt+1, "err", err)
			return
		}
		c.log.Info("billing contact webhook failed; retrying", "tenant_id", n.TenantID, "in", contactRetries[attempt], "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(contactRetries[attempt]):
		}
	}
}

// contactPayload is the body POSTed to a billing contact.
type contactPayload struct {
	Type         string               `json:"type"` // "quota_warning"
	Notification billing.Notification `json:"notification"`
}

func (c *contactNotifier) send(ctx context.Context, n billing.Notification) error {
	u, secret, err := c.contacts.BillingContact(ctx, n.TenantID)
	if errors.Is(err, tenants.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	body, _ := json.Marshal(contactPayload{Type: "quota_warning", Notification: n})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ContactSignatureHeader, signContact(secret, body))
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %d", u, resp.StatusCode)
	}
	return nil
}

func signContact(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// contactsView is the management API's dashboard.BillingContacts.
type contactsView struct{ store contactStore }

// SetBillingContact validates and stores the URL with a new secret,
// which it returns (shown once); "" removes the contact.
func (v contactsView) SetBillingContact(ctx context.Context, tenantID, rawURL string) (string, error) {
	if rawURL == "" {
		return "", v.store.SetBillingContact(ctx, tenantID, "", "")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(rawURL) > 2048 {
		return "", fmt.Errorf("%w: %w", tenants.ErrInvalid, &tenants.FieldError{Field: "url", Problem: "must be an http(s) URL of at most 2048 bytes"})
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	secret := "bcs_" + hex.EncodeToString(b[:])
	return secret, v.store.SetBillingContact(ctx, tenantID, rawURL, secret)
}

// BillingContact returns the tenant's contact URL, "" when none.
func (v contactsView) BillingContact(ctx context.Context, tenantID string) (string, error) {
	u, _, err := v.store.BillingContact(ctx, tenantID)
	if errors.Is(err, tenants.ErrNotFound) {
		return "", nil
	}
	return u, err
}
