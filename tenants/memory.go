package tenants

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// MemoryStore is a Store in process memory: nothing survives a restart. It
// is also its own ChangeFeed, delivering the changes made through it.
//
// Writes rebuild the effective view of the apps they touch, so lookups
// return a shared immutable *App without allocating.
type MemoryStore struct {
	mu      sync.RWMutex
	seq     int64 // orders keys, tenants and audit entries
	nextApp int64 // last numeric app id handed out
	tenants map[string]*memTenant
	plans   map[string]*Plan
	apps    map[string]*memApp
	keys    map[string]*memKey // every key, revoked ones too
	tokens  map[string]*memToken
	byHash  map[string]*memToken
	audit   []AuditEntry

	// effective views, rebuilt on write
	byID  map[string]*App
	byKey map[string]*App // active keys only

	watchers map[*watcher]struct{}
}

type memTenant struct {
	Tenant
	seq int64
}

type memApp struct {
	settings *App     // Keys nil, TenantID set
	keys     []string // every key of the app, revoked ones too, oldest first
}

type memKey struct {
	appID     string
	secret    string
	status    KeyStatus
	createdAt time.Time
	lastUsed  *time.Time
	revokedAt *time.Time
}

type memToken struct {
	APIToken
	hash    string
	revoked bool
}

var (
	_ Store      = (*MemoryStore)(nil)
	_ ChangeFeed = (*MemoryStore)(nil)
)

// NewMemoryStore returns a store holding only the seed plans and the
// default tenant.
func NewMemoryStore() *MemoryStore {
	s := &MemoryStore{
		nextApp: 1_000_000,
		tenants: map[string]*memTenant{}, plans: map[string]*Plan{}, apps: map[string]*memApp{},
		keys: map[string]*memKey{}, tokens: map[string]*memToken{}, byHash: map[string]*memToken{},
		byID: map[string]*App{}, byKey: map[string]*App{}, watchers: map[*watcher]struct{}{},
	}
	for _, p := range SeedPlans() {
		s.plans[p.ID] = p
	}
	s.seq++
	s.tenants[DefaultTenantID] = &memTenant{Tenant{ID: DefaultTenantID, Name: "Default", Status: TenantActive, PlanID: DefaultPlanID, CreatedAt: time.Now().UTC()}, s.seq}
	return s
}

func cloneApp(a *App) *App {
	c := *a
	c.Keys = slices.Clone(a.Keys)
	c.AllowedOrigins = slices.Clone(a.AllowedOrigins)
	if a.Webhooks != nil {
		c.Webhooks = make([]Webhook, len(a.Webhooks))
		for i, w := range a.Webhooks {
			w.EventTypes = slices.Clone(w.EventTypes)
			if w.Filter != nil {
				f := *w.Filter
				w.Filter = &f
			}
			c.Webhooks[i] = w
		}
	}
	return &c
}

// settingsOf copies the settings of a (no keys) for tenant.
func settingsOf(a *App, tenant string) *App {
	c := cloneApp(a)
	c.Keys = nil
	c.TenantID = tenant
	return c
}

func (s *MemoryStore) now() time.Time { return time.Now().UTC() }

// rebuildLocked refreshes the effective view of one app (or drops it).
func (s *MemoryStore) rebuildLocked(id string) {
	if old, ok := s.byID[id]; ok {
		for _, k := range old.Keys {
			if s.byKey[k.Key] == old {
				delete(s.byKey, k.Key)
			}
		}
		delete(s.byID, id)
	}
	m, ok := s.apps[id]
	if !ok {
		return
	}
	a := cloneApp(m.settings)
	a.Keys = nil
	for _, k := range m.keys {
		if mk := s.keys[k]; mk.status == KeyActive {
			a.Keys = append(a.Keys, Key{Key: k, Secret: mk.secret})
		}
	}
	t := s.tenants[a.TenantID]
	if t != nil {
		a.Limits = s.plans[t.PlanID].Cap(a.Limits)
		if t.Status == TenantSuspended {
			a.Enabled, a.Suspended = false, true
		}
	}
	s.byID[id] = a
	for _, k := range a.Keys {
		s.byKey[k.Key] = a
	}
}

func (s *MemoryStore) rebuildAllLocked() {
	clear(s.byID)
	clear(s.byKey)
	for id := range s.apps {
		s.rebuildLocked(id)
	}
}

func (s *MemoryStore) auditLocked(tenant, actor, action, target string, detail []byte) {
	s.seq++
	s.audit = append(s.audit, AuditEntry{ID: s.seq, TenantID: tenant, Actor: actor, Action: action, Target: target, Detail: detail, At: s.now()})
}

func (s *MemoryStore) AppByID(_ context.Context, id string) (*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a, ok := s.byID[id]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}

func (s *MemoryStore) AppByKey(_ context.Context, key string) (*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a, ok := s.byKey[key]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}

func (s *MemoryStore) Apps(_ context.Context) ([]*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sortedLocked(""), nil
}

func (s *MemoryStore) sortedLocked(tenant string) []*App {
	out := make([]*App, 0, len(s.byID))
	for _, a := range s.byID {
		if tenant == "" || a.TenantID == tenant {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *App) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func tenantOrDefault(id string) string {
	if id == "" {
		return DefaultTenantID
	}
	return id
}

func (s *MemoryStore) PutApp(_ context.Context, app *App) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tenant := tenantOrDefault(app.TenantID)
	if _, ok := s.tenants[tenant]; !ok {
		return fmt.Errorf("tenant %s: %w", tenant, ErrNotFound)
	}
	for _, k := range app.Keys {
		if mk, ok := s.keys[k.Key]; ok && mk.appID != app.ID {
			return ErrConflict
		}
	}
	prev, existed := s.apps[app.ID]
	old := map[string]*memKey{}
	if existed {
		for _, k := range prev.keys {
			old[k] = s.keys[k]
			delete(s.keys, k)
		}
	}
	s.apps[app.ID] = &memApp{settings: settingsOf(app, tenant)}
	s.addKeysLocked(app.ID, app.Keys, old)
	s.rebuildLocked(app.ID)
	action := ActionAppCreate
	if existed {
		action = ActionAppUpdate
	}
	s.auditLocked(tenant, ActorSystem, action, app.ID, AppDetail(app))
	s.notifyLocked(Change{AppIDs: []string{app.ID}})
	return nil
}

// addKeysLocked adds keys in order, keeping the history of ones in old.
func (s *MemoryStore) addKeysLocked(appID string, keys []Key, old map[string]*memKey) {
	now := s.now()
	m := s.apps[appID]
	for _, k := range keys {
		m.keys = append(m.keys, k.Key)
		mk := &memKey{appID: appID, secret: k.Secret, status: KeyActive, createdAt: now}
		if o, ok := old[k.Key]; ok {
			mk.createdAt, mk.lastUsed = o.createdAt, o.lastUsed
		}
		s.keys[k.Key] = mk
	}
}

func (s *MemoryStore) CreateAppIfAbsent(_ context.Context, app *App) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tenant := tenantOrDefault(app.TenantID)
	if _, ok := s.tenants[tenant]; !ok {
		return false, fmt.Errorf("tenant %s: %w", tenant, ErrNotFound)
	}
	if _, ok := s.apps[app.ID]; ok {
		return false, nil
	}
	for _, k := range app.Keys {
		if _, ok := s.keys[k.Key]; ok {
			return false, nil
		}
	}
	s.apps[app.ID] = &memApp{settings: settingsOf(app, tenant)}
	s.addKeysLocked(app.ID, app.Keys, nil)
	s.rebuildLocked(app.ID)
	s.auditLocked(tenant, ActorAppsFile, ActionAppCreate, app.ID, AppDetail(app))
	s.notifyLocked(Change{AppIDs: []string{app.ID}})
	return true, nil
}

func (s *MemoryStore) DeleteApp(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.apps[id]
	if !ok {
		return ErrNotFound
	}
	s.deleteLocked(m.settings.TenantID, id, ActorSystem)
	return nil
}

func (s *MemoryStore) deleteLocked(tenant, id, actor string) {
	for _, k := range s.apps[id].keys {
		delete(s.keys, k)
	}
	delete(s.apps, id)
	s.rebuildLocked(id)
	s.auditLocked(tenant, actor, ActionAppDelete, id, nil)
	s.notifyLocked(Change{AppIDs: []string{id}})
}

// Tenants and plans.

func (s *MemoryStore) CreateTenant(_ context.Context, name, planID, actor string) (*Tenant, error) {
	if err := validTenantName(name); err != nil {
		return nil, err
	}
	if planID == "" {
		planID = FreePlanID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.plans[planID]; !ok {
		return nil, fmt.Errorf("plan %s: %w", planID, ErrNotFound)
	}
	s.seq++
	t := &memTenant{Tenant{ID: NewTenantID(), Name: name, Status: TenantActive, PlanID: planID, CreatedAt: s.now()}, s.seq}
	s.tenants[t.ID] = t
	s.auditLocked(t.ID, actor, ActionTenantCreate, t.ID, Detail(map[string]string{"name": name, "plan_id": planID}))
	c := t.Tenant
	return &c, nil
}

func validTenantName(name string) error {
	if len(name) == 0 || len(name) > 200 || name[0] == ' ' {
		return fmt.Errorf("%w: %w", ErrInvalid, &FieldError{"name", "must be 1 to 200 bytes, not starting with a space"})
	}
	return nil
}

func (s *MemoryStore) Tenant(_ context.Context, id string) (*Tenant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tenants[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := t.Tenant
	return &c, nil
}

func (s *MemoryStore) Tenants(_ context.Context) ([]*Tenant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ts := make([]*memTenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *memTenant) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]*Tenant, len(ts))
	for i, t := range ts {
		c := t.Tenant
		out[i] = &c
	}
	return out, nil
}

func (s *MemoryStore) SetTenantStatus(_ context.Context, id string, status TenantStatus, actor string) error {
	if !status.Valid() {
		return fmt.Errorf("%w: %w", ErrInvalid, &FieldError{"status", fmt.Sprintf("%q is not active, suspended or past_due", status)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[id]
	if !ok {
		return ErrNotFound
	}
	t.Status = status
	s.rebuildAllLocked()
	s.auditLocked(id, actor, ActionTenantStatus, id, Detail(map[string]string{"status": string(status)}))
	s.notifyLocked(Change{All: true})
	return nil
}

func (s *MemoryStore) SetTenantPlan(_ context.Context, id, planID, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[id]
	if !ok {
		return ErrNotFound
	}
	if _, ok := s.plans[planID]; !ok {
		return fmt.Errorf("plan %s: %w", planID, ErrNotFound)
	}
	t.PlanID = planID
	s.rebuildAllLocked()
	s.auditLocked(id, actor, ActionTenantPlan, id, Detail(map[string]string{"plan_id": planID}))
	s.notifyLocked(Change{All: true})
	return nil
}

func (s *MemoryStore) PutPlan(_ context.Context, p *Plan, actor string) error {
	if err := ValidatePlan(p); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *p
	s.plans[p.ID] = &c
	s.rebuildAllLocked()
	s.auditLocked("", actor, ActionPlanPut, p.ID, Detail(p))
	s.notifyLocked(Change{All: true})
	return nil
}

func (s *MemoryStore) Plan(_ context.Context, id string) (*Plan, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.plans[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := *p
	return &c, nil
}

func (s *MemoryStore) Plans(_ context.Context) ([]*Plan, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Plan, 0, len(s.plans))
	for _, p := range s.plans {
		c := *p
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *Plan) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Apps of a tenant.

// PrepareSpec copies the settings of spec for CreateApp: zero Limits mean
// DefaultLimits(), and they must validate.
func PrepareSpec(spec *App, tenant string) (*App, error) {
	a := settingsOf(spec, tenant)
	if a.Limits == (Limits{}) {
		a.Limits = DefaultLimits()
	}
	if err := ValidateSettings(a); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *MemoryStore) CreateApp(_ context.Context, tenantID string, spec *App, actor string) (*App, Key, error) {
	a, err := PrepareSpec(spec, tenantID)
	if err != nil {
		return nil, Key{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[tenantID]
	if !ok {
		return nil, Key{}, ErrNotFound
	}
	if max := s.plans[t.PlanID].MaxApps; max != Unlimited {
		n := 0
		for _, m := range s.apps {
			if m.settings.TenantID == tenantID {
				n++
			}
		}
		if n >= max {
			return nil, Key{}, fmt.Errorf("%w: plan %s allows %d apps", ErrPlanLimit, t.PlanID, max)
		}
	}
	if a.ID == "" {
		for {
			s.nextApp++
			if _, taken := s.apps[strconv.FormatInt(s.nextApp, 10)]; !taken {
				break
			}
		}
		a.ID = strconv.FormatInt(s.nextApp, 10)
	} else if _, taken := s.apps[a.ID]; taken {
		return nil, Key{}, ErrConflict
	}
	k := NewKey()
	for s.keys[k.Key] != nil {
		k = NewKey()
	}
	s.apps[a.ID] = &memApp{settings: a}
	s.addKeysLocked(a.ID, []Key{k}, nil)
	s.rebuildLocked(a.ID)
	s.auditLocked(tenantID, actor, ActionAppCreate, a.ID, AppDetail(s.byID[a.ID]))
	s.notifyLocked(Change{AppIDs: []string{a.ID}})
	return s.byID[a.ID], k, nil
}

func (s *MemoryStore) TenantApps(_ context.Context, tenantID string) ([]*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.tenants[tenantID]; !ok {
		return nil, ErrNotFound
	}
	return s.sortedLocked(tenantID), nil
}

func (s *MemoryStore) TenantApp(_ context.Context, tenantID, appID string) (*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tenantAppLocked(tenantID, appID)
}

func (s *MemoryStore) tenantAppLocked(tenantID, appID string) (*App, error) {
	a, ok := s.byID[appID]
	if !ok || a.TenantID != tenantID {
		return nil, ErrNotFound
	}
	return a, nil
}

func (s *MemoryStore) AppSettings(_ context.Context, tenantID, appID string) (*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	eff, err := s.tenantAppLocked(tenantID, appID)
	if err != nil {
		return nil, err
	}
	a := cloneApp(s.apps[appID].settings)
	a.Keys = slices.Clone(eff.Keys)
	return a, nil
}

func (s *MemoryStore) UpdateApp(_ context.Context, tenantID string, app *App, actor string) (*App, error) {
	a := settingsOf(app, tenantID)
	if err := ValidateSettings(a); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.tenantAppLocked(tenantID, app.ID); err != nil {
		return nil, err
	}
	s.apps[app.ID].settings = a
	s.rebuildLocked(app.ID)
	s.auditLocked(tenantID, actor, ActionAppUpdate, app.ID, AppDetail(s.byID[app.ID]))
	s.notifyLocked(Change{AppIDs: []string{app.ID}})
	return s.byID[app.ID], nil
}

func (s *MemoryStore) RemoveApp(_ context.Context, tenantID, appID, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.tenantAppLocked(tenantID, appID); err != nil {
		return err
	}
	s.deleteLocked(tenantID, appID, actor)
	return nil
}

// Keys.

func (s *MemoryStore) Keys(_ context.Context, tenantID, appID string) ([]KeyInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.tenantAppLocked(tenantID, appID); err != nil {
		return nil, err
	}
	ks := s.apps[appID].keys
	out := make([]KeyInfo, len(ks))
	for i, k := range ks {
		mk := s.keys[k]
		out[i] = KeyInfo{Key: k, Status: mk.status, CreatedAt: mk.createdAt, LastUsedAt: copyTime(mk.lastUsed), RevokedAt: copyTime(mk.revokedAt)}
	}
	return out, nil
}

func copyTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func (s *MemoryStore) CreateKey(_ context.Context, tenantID, appID, actor string) (Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.tenantAppLocked(tenantID, appID); err != nil {
		return Key{}, err
	}
	k := NewKey()
	for s.keys[k.Key] != nil {
		k = NewKey()
	}
	s.addKeysLocked(appID, []Key{k}, nil)
	s.rebuildLocked(appID)
	s.auditLocked(tenantID, actor, ActionKeyCreate, appID, Detail(map[string]string{"key": k.Key}))
	s.notifyLocked(Change{AppIDs: []string{appID}})
	return k, nil
}

func (s *MemoryStore) RevokeKey(_ context.Context, tenantID, appID, key, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.tenantAppLocked(tenantID, appID)
	if err != nil {
		return err
	}
	mk, ok := s.keys[key]
	if !ok || mk.appID != appID || mk.status != KeyActive {
		return ErrNotFound
	}
	if len(a.Keys) <= 1 {
		return ErrLastKey
	}
	now := s.now()
	mk.status, mk.revokedAt = KeyRevoked, &now
	s.rebuildLocked(appID)
	s.auditLocked(tenantID, actor, ActionKeyRevoke, appID, Detail(map[string]string{"key": key}))
	s.notifyLocked(Change{AppIDs: []string{appID}})
	return nil
}

func (s *MemoryStore) MarkKeysUsed(_ context.Context, used map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range used {
		if mk, ok := s.keys[k]; ok && (mk.lastUsed == nil || mk.lastUsed.Before(at)) {
			t := at.UTC()
			mk.lastUsed = &t
		}
	}
	return nil
}

// Tokens.

func (s *MemoryStore) CreateToken(_ context.Context, tenantID, name, actor string) (APIToken, string, error) {
	if err := validTenantName(name); err != nil {
		return APIToken{}, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[tenantID]; !ok {
		return APIToken{}, "", ErrNotFound
	}
	plain, hash := NewToken()
	t := &memToken{APIToken: APIToken{ID: NewTokenID(), TenantID: tenantID, Name: name, CreatedAt: s.now()}, hash: string(hash)}
	s.tokens[t.ID] = t
	s.byHash[t.hash] = t
	s.auditLocked(tenantID, actor, ActionTokenCreate, t.ID, Detail(map[string]string{"name": name}))
	return t.APIToken, plain, nil
}

func (s *MemoryStore) TenantByToken(_ context.Context, token string) (*Tenant, *APIToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byHash[string(HashToken(token))]
	if !ok || t.revoked {
		return nil, nil, ErrNotFound
	}
	tn, ok := s.tenants[t.TenantID]
	if !ok {
		return nil, nil, ErrNotFound
	}
	now := s.now()
	t.LastUsedAt = &now
	c, at := tn.Tenant, t.APIToken
	at.LastUsedAt = copyTime(t.LastUsedAt)
	return &c, &at, nil
}

func (s *MemoryStore) Tokens(_ context.Context, tenantID string) ([]APIToken, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.tenants[tenantID]; !ok {
		return nil, ErrNotFound
	}
	var out []APIToken
	for _, t := range s.tokens {
		if t.TenantID == tenantID && !t.revoked {
			c := t.APIToken
			c.LastUsedAt = copyTime(t.LastUsedAt)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b APIToken) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *MemoryStore) RevokeToken(_ context.Context, tenantID, tokenID, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tokenID]
	if !ok || t.TenantID != tenantID || t.revoked {
		return ErrNotFound
	}
	t.revoked = true
	s.auditLocked(tenantID, actor, ActionTokenRevoke, tokenID, nil)
	return nil
}

func (s *MemoryStore) Audit(_ context.Context, tenantID string, limit int) ([]AuditEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []AuditEntry
	for i := len(s.audit) - 1; i >= 0 && len(out) < limit; i-- {
		if e := s.audit[i]; tenantID == "" || e.TenantID == tenantID {
			e.Detail = slices.Clone(e.Detail)
			out = append(out, e)
		}
	}
	return out, nil
}

// The change feed.

// watcher queues changes for one Watch call; notify never blocks.
type watcher struct {
	mu      sync.Mutex
	pending []Change
	wake    chan struct{}
}

// maxPending bounds a slow watcher's queue; past it the changes collapse
// into one Change{All: true}.
const maxPending = 1024

func (s *MemoryStore) notifyLocked(c Change) {
	for w := range s.watchers {
		w.mu.Lock()
		if len(w.pending) >= maxPending {
			w.pending = append(w.pending[:0], Change{All: true})
		} else {
			w.pending = append(w.pending, c)
		}
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Watch implements ChangeFeed: f sees every change made through this
// store after Watch was called, in order, until ctx ends.
func (s *MemoryStore) Watch(ctx context.Context, f func(Change)) error {
	w := &watcher{wake: make(chan struct{}, 1)}
	s.mu.Lock()
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
		w.mu.Lock()
		batch := w.pending
		w.pending = nil
		w.mu.Unlock()
		for _, c := range batch {
			f(c)
		}
	}
}
