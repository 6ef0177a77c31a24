package billing

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
)

// Account links a tenant to its Stripe customer and subscription.
type Account struct {
	TenantID       string
	CustomerID     string
	SubscriptionID string
	// PlanID is the plan the Stripe subscription's prices were last set
	// for (by Subscribe, SyncPlans or a customer.subscription.updated
	// event): the common ancestor of the tenant's plan and Stripe's. A
	// tenant plan that differs from it changed here and is pushed to
	// Stripe; a Stripe price that differs from it changed in Stripe and
	// is applied to the tenant. "" is unknown: the next sync compares
	// the subscription's prices with the tenant's plan.
	PlanID string
	// PastDueSince is when payment first failed since the last paid
	// invoice; zero when paid up. Suspension counts the grace period
	// from here.
	PastDueSince time.Time
}

// Accounts store the tenant ↔ Stripe links: MemoryAccounts, or
// billing/pgusage's Store.
type Accounts interface {
	PutAccount(ctx context.Context, a Account) error
	// SetSubscription changes only SubscriptionID and PlanID, so that a
	// plan sync does not overwrite what a webhook changed meanwhile
	// (PastDueSince); tenants.ErrNotFound when there is no account.
	SetSubscription(ctx context.Context, tenantID, subscriptionID, planID string) error
	// Account and AccountByCustomer answer tenants.ErrNotFound when
	// there is none.
	Account(ctx context.Context, tenantID string) (Account, error)
	AccountByCustomer(ctx context.Context, customerID string) (Account, error)
	// PastDue lists accounts with PastDueSince set.
	PastDue(ctx context.Context) ([]Account, error)
	// All lists every account, by tenant id.
	All(ctx context.Context) ([]Account, error)
}

// MemoryAccounts are Accounts in process.
type MemoryAccounts struct {
	mu sync.Mutex
	m  map[string]Account
}

var _ Accounts = (*MemoryAccounts)(nil)

// PutAccount implements Accounts.
func (s *MemoryAccounts) PutAccount(_ context.Context, a Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Account{}
	}
	s.m[a.TenantID] = a
	return nil
}

// SetSubscription implements Accounts.
func (s *MemoryAccounts) SetSubscription(_ context.Context, tenantID, subscriptionID, planID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[tenantID]
	if !ok {
		return tenants.ErrNotFound
	}
	a.SubscriptionID, a.PlanID = subscriptionID, planID
	s.m[tenantID] = a
	return nil
}

// Account implements Accounts.
func (s *MemoryAccounts) Account(_ context.Context, tenantID string) (Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[tenantID]
	if !ok {
		return Account{}, tenants.ErrNotFound
	}
	return a, nil
}

// AccountByCustomer implements Accounts.
func (s *MemoryAccounts) AccountByCustomer(_ context.Context, customerID string) (Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.m {
		if a.CustomerID == customerID {
			return a, nil
		}
	}
	return Account{}, tenants.ErrNotFound
}

// PastDue implements Accounts.
func (s *MemoryAccounts) PastDue(ctx context.Context) ([]Account, error) {
	all, _ := s.All(ctx)
	var out []Account
	for _, a := range all {
		if !a.PastDueSince.IsZero() {
			out = append(out, a)
		}
	}
	return out, nil
}

// All implements Accounts.
func (s *MemoryAccounts) All(_ context.Context) ([]Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.m))
	for _, a := range s.m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TenantID < out[j].TenantID })
	return out, nil
}
