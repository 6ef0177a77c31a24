// Package storetest is the conformance suite for tenants.Store: the memory
// store and tenants/pgstore must pass it unchanged, so the embedded default
// and production behave alike.
//
// Every subtest calls open once and uses ids and keys with a random suffix,
// so runs sharing one database never collide; a shared database may hold
// other apps, and the suite only looks at its own.
//
// It imports tenants only.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/tenants"
)

// Run runs the suite. open returns the store under test; it is called once
// per subtest with that subtest's t, so cleanup belongs in t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) tenants.Store) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *store)
	}{
		{"PutAndFind", testPutAndFind},
		{"EveryFieldSurvives", testEveryFieldSurvives},
		{"NotFound", testNotFound},
		{"ReplaceDropsOldKeys", testReplaceDropsOldKeys},
		{"KeyBelongsToOneApp", testKeyBelongsToOneApp},
		{"CreateAppIfAbsent", testCreateAppIfAbsent},
		{"ConcurrentCreateAppIfAbsent", testConcurrentCreate},
		{"Delete", testDelete},
		{"AppsSortedByID", testAppsSortedByID},
		{"DefaultTenantAndPlans", testDefaultTenantAndPlans},
		{"Tenants", testTenants},
		{"CreateApp", testCreateApp},
		{"CreateAppInvalid", testCreateAppInvalid},
		{"PlanLimitApps", testPlanLimitApps},
		{"PlanCapsLimits", testPlanCapsLimits},
		{"PlanCapsHistory", testPlanCapsHistory},
		{"SuspendedTenant", testSuspendedTenant},
		{"TenantIsolation", testTenantIsolation},
		{"UpdateApp", testUpdateApp},
		{"RemoveApp", testRemoveApp},
		{"KeyRotation", testKeyRotation},
		{"MarkKeysUsed", testMarkKeysUsed},
		{"Tokens", testTokens},
		{"Audit", testAudit},
		{"ChangeFeed", testChangeFeed},
		{"DirectoryFollows", testDirectoryFollows},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, &store{t: t, s: open(t), ctx: t.Context(), run: random(t)})
		})
	}
}

// store binds a Store to one test and fails it on unexpected errors.
type store struct {
	t   *testing.T
	s   tenants.Store
	ctx context.Context
	run string // random suffix of this subtest's ids and keys
}

func random(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// app returns a new app whose id and key are unique to this subtest.
func (f *store) app(name string) *tenants.App {
	return tenants.NewApp("id-"+name+"-"+f.run, "key-"+name+"-"+f.run, "secret-"+name)
}

func (f *store) put(a *tenants.App) {
	f.t.Helper()
	if err := f.s.PutApp(f.ctx, a); err != nil {
		f.t.Fatalf("PutApp(%s): %v", a.ID, err)
	}
}

func (f *store) byID(id string) *tenants.App {
	f.t.Helper()
	a, err := f.s.AppByID(f.ctx, id)
	if err != nil {
		f.t.Fatalf("AppByID(%s): %v", id, err)
	}
	return a
}

func (f *store) byKey(key string) *tenants.App {
	f.t.Helper()
	a, err := f.s.AppByKey(f.ctx, key)
	if err != nil {
		f.t.Fatalf("AppByKey(%s): %v", key, err)
	}
	return a
}

func (f *store) wantNoID(id string) {
	f.t.Helper()
	if a, err := f.s.AppByID(f.ctx, id); !errors.Is(err, tenants.ErrNotFound) {
		f.t.Fatalf("AppByID(%s) = %v, %v; want ErrNotFound", id, a, err)
	}
}

func (f *store) wantNoKey(key string) {
	f.t.Helper()
	if a, err := f.s.AppByKey(f.ctx, key); !errors.Is(err, tenants.ErrNotFound) {
		f.t.Fatalf("AppByKey(%s) = %v, %v; want ErrNotFound", key, a, err)
	}
}

func (f *store) create(a *tenants.App) bool {
	f.t.Helper()
	added, err := f.s.CreateAppIfAbsent(f.ctx, a)
	if err != nil {
		f.t.Fatalf("CreateAppIfAbsent(%s): %v", a.ID, err)
	}
	return added
}

func keysOf(a *tenants.App) []string {
	var ks []string
	for _, k := range a.Keys {
		ks = append(ks, k.Key)
	}
	return ks
}

func testPutAndFind(t *testing.T, f *store) {
	a := f.app("a")
	a.Keys = append(a.Keys, tenants.Key{Key: "key-a2-" + f.run, Secret: "second"}, tenants.Key{Key: "key-a3-" + f.run, Secret: "third"})
	f.put(a)
	for _, got := range []*tenants.App{f.byID(a.ID), f.byKey(a.Keys[0].Key), f.byKey(a.Keys[1].Key), f.byKey(a.Keys[2].Key)} {
		if got.ID != a.ID || !slices.Equal(keysOf(got), keysOf(a)) {
			t.Fatalf("found %s with keys %v, want %s with %v (primary first)", got.ID, keysOf(got), a.ID, keysOf(a))
		}
		if s, ok := got.SecretFor(a.Keys[2].Key); !ok || s != "third" {
			t.Fatalf("secret of the third key: %q %v", s, ok)
		}
	}
}

// fullApp sets every field to a value other than its default, so a
// backend that forgets a column fails.
func fullApp(f *store) *tenants.App {
	a := f.app("full")
	a.Name = "Full app — ünïcode"
	a.Enabled = false
	a.Keys = append(a.Keys, tenants.Key{Key: "key-full2-" + f.run, Secret: "second"})
	a.EnableClientMessages = true
	a.EnableUserAuthentication = true
	a.EnableSubscriptionCount = true
	a.BatchWebhooks = true
	a.Limits = tenants.Limits{
		MaxConnections:               1000,
		MaxClientEventsPerSecond:     tenants.Unlimited,
		MaxBackendEventsPerSecond:    50,
		MaxReadRequestsPerSecond:     60,
		MaxPresenceMembersPerChannel: 200,
		MaxPresenceMemberSizeInKB:    2.5,
		MaxChannelNameLength:         180,
		MaxEventChannelsAtOnce:       20,
		MaxEventNameLength:           150,
		MaxEventPayloadInKB:          100.5,
		MaxEventBatchSize:            5,
		UserAuthenticationTimeout:    45,
		HistoryMaxEvents:             250,
		HistoryMaxAgeSeconds:         600,
	}
	a.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
	a.Webhooks = []tenants.Webhook{
		{URL: "https://hooks.example.com/pusher", EventTypes: []string{"channel_occupied", "channel_vacated"}},
		{URL: "http://10.0.0.1:8080/presence", EventTypes: []string{"member_added", "member_removed"},
			Filter: &tenants.WebhookFilter{ChannelNameStartsWith: "presence-", ChannelNameEndsWith: "-room"}},
	}
	return a
}

func testEveryFieldSurvives(t *testing.T, f *store) {
	a := fullApp(f)
	a.TenantID = tenants.DefaultTenantID // what "" becomes
	f.put(a)
	for how, got := range map[string]*tenants.App{"by id": f.byID(a.ID), "by key": f.byKey(a.Keys[1].Key)} {
		if !reflect.DeepEqual(got, a) {
			t.Errorf("%s:\n got %+v\nwant %+v", how, got, a)
		}
	}
	apps, err := f.s.Apps(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(apps, func(x *tenants.App) bool { return x.ID == a.ID })
	if i < 0 || !reflect.DeepEqual(apps[i], a) {
		t.Errorf("Apps does not hold the app as put")
	}
}

func testNotFound(t *testing.T, f *store) {
	f.wantNoID("id-none-" + f.run)
	f.wantNoKey("key-none-" + f.run)
	a := f.app("a")
	f.put(a)
	f.wantNoKey(a.ID)   // an id is not a key
	f.wantNoID(a.Key()) // nor a key an id
}

func testReplaceDropsOldKeys(t *testing.T, f *store) {
	a := f.app("a")
	a.Keys = append(a.Keys, tenants.Key{Key: "key-kept-" + f.run, Secret: "kept"})
	f.put(a)
	b := tenants.NewApp(a.ID, "key-new-"+f.run, "new")
	b.Keys = append(b.Keys, tenants.Key{Key: "key-kept-" + f.run, Secret: "kept"})
	b.MaxConnections = 5
	f.put(b)
	f.wantNoKey(a.Key())
	for _, k := range keysOf(b) {
		if got := f.byKey(k); got.MaxConnections != 5 || got.Secret() != "new" {
			t.Fatalf("key %s finds the old version: %+v", k, got)
		}
	}
	if got := f.byID(a.ID); got.MaxConnections != 5 {
		t.Fatalf("id finds the old version: %+v", got)
	}
	// The dropped key is free for another app.
	c := tenants.NewApp("id-c-"+f.run, a.Key(), "c")
	f.put(c)
	if got := f.byKey(a.Key()); got.ID != c.ID {
		t.Fatalf("reused key finds %s, want %s", got.ID, c.ID)
	}
}

func testKeyBelongsToOneApp(t *testing.T, f *store) {
	a := f.app("a")
	f.put(a)
	b := f.app("b")
	b.Keys = append(b.Keys, tenants.Key{Key: a.Key(), Secret: "stolen"})
	if err := f.s.PutApp(f.ctx, b); !errors.Is(err, tenants.ErrConflict) {
		t.Fatalf("PutApp with another app's key: %v, want ErrConflict", err)
	}
	f.wantNoID(b.ID)
	f.wantNoKey(b.Key())
	if got := f.byKey(a.Key()); got.ID != a.ID || got.Secret() != a.Secret() {
		t.Fatalf("the key now finds %+v", got)
	}

	// Replacing an existing app with a conflicting key fails as a whole.
	b = f.app("b")
	f.put(b)
	b2 := tenants.NewApp(b.ID, a.Key(), "stolen")
	if err := f.s.PutApp(f.ctx, b2); !errors.Is(err, tenants.ErrConflict) {
		t.Fatalf("replacing with another app's key: %v, want ErrConflict", err)
	}
	if got := f.byKey(b.Key()); got.ID != b.ID {
		t.Fatalf("the failed replace changed b: %+v", got)
	}
}

func testCreateAppIfAbsent(t *testing.T, f *store) {
	a := f.app("a")
	if !f.create(a) {
		t.Fatal("new app not added")
	}
	if got := f.byKey(a.Key()); got.ID != a.ID {
		t.Fatalf("created app not found by key: %+v", got)
	}
	sameID := tenants.NewApp(a.ID, "key-other-"+f.run, "other")
	if f.create(sameID) {
		t.Fatal("an app with an existing id was added")
	}
	sameKey := tenants.NewApp("id-other-"+f.run, "key-fresh-"+f.run, "other")
	sameKey.Keys = append(sameKey.Keys, tenants.Key{Key: a.Key(), Secret: "other"})
	if f.create(sameKey) {
		t.Fatal("an app with an existing key was added")
	}
	if got := f.byID(a.ID); got.Secret() != a.Secret() || got.Key() != a.Key() {
		t.Fatalf("existing app changed: %+v", got)
	}
	f.wantNoKey("key-other-" + f.run)
	f.wantNoKey("key-fresh-" + f.run)
	f.wantNoID("id-other-" + f.run)
}

// testConcurrentCreate checks that CreateAppIfAbsent is atomic: when many
// nodes seed the same apps file at once, each app is added exactly once.
func testConcurrentCreate(t *testing.T, f *store) {
	const n = 16
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	for i := range n {
		wg.Go(func() {
			<-start
			a := tenants.NewApp("id-race-"+f.run, fmt.Sprintf("key-race%d-%s", i, f.run), "s")
			added, err := f.s.CreateAppIfAbsent(f.ctx, a)
			if err != nil {
				t.Error(err)
			}
			if added {
				mu.Lock()
				winners = append(winners, a.Key())
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent creates of one id succeeded", len(winners), n)
	}
	if got := f.byID("id-race-" + f.run); got.Key() != winners[0] {
		t.Fatalf("stored key %s, winner %s", got.Key(), winners[0])
	}
	for i := range n {
		if k := fmt.Sprintf("key-race%d-%s", i, f.run); k != winners[0] {
			f.wantNoKey(k)
		}
	}
}

func testDelete(t *testing.T, f *store) {
	a, b := f.app("a"), f.app("b")
	a.Keys = append(a.Keys, tenants.Key{Key: "key-a2-" + f.run, Secret: "s"})
	f.put(a)
	f.put(b)
	if err := f.s.DeleteApp(f.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	f.wantNoID(a.ID)
	for _, k := range keysOf(a) {
		f.wantNoKey(k)
	}
	if got := f.byKey(b.Key()); got.ID != b.ID {
		t.Fatalf("deleting a removed b: %+v", got)
	}
	if err := f.s.DeleteApp(f.ctx, a.ID); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("deleting twice: %v, want ErrNotFound", err)
	}
	if err := f.s.DeleteApp(f.ctx, "id-never-"+f.run); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("deleting an unknown app: %v, want ErrNotFound", err)
	}
	// Id and keys are free again.
	if !f.create(a) {
		t.Fatal("a deleted app could not be created again")
	}
}

func testAppsSortedByID(t *testing.T, f *store) {
	var want []string
	for _, name := range []string{"c", "a", "d", "b"} {
		a := f.app(name)
		f.put(a)
		want = append(want, a.ID)
	}
	slices.Sort(want)
	apps, err := f.s.Apps(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all, ours []string
	for _, a := range apps {
		all = append(all, a.ID)
		if slices.Contains(want, a.ID) {
			ours = append(ours, a.ID)
		}
	}
	if !slices.IsSorted(all) {
		t.Fatalf("Apps not sorted by id: %v", all)
	}
	if !slices.Equal(ours, want) {
		t.Fatalf("Apps holds %v of ours, want %v", ours, want)
	}
	if err := f.s.DeleteApp(f.ctx, want[0]); err != nil {
		t.Fatal(err)
	}
	apps, _ = f.s.Apps(f.ctx)
	if slices.ContainsFunc(apps, func(a *tenants.App) bool { return a.ID == want[0] }) {
		t.Fatal("Apps lists a deleted app")
	}
}
