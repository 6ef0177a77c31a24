package bustest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
)

// RunState runs the State suite. open returns the implementation under
// test; it is called once per subtest with that subtest's t, so cleanup
// belongs in t.Cleanup.
func RunState(t *testing.T, open func(t *testing.T) bus.State) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *state)
	}{
		{"SubscriptionCounts", testSubscriptionCounts},
		{"AppsAreSeparate", testAppsAreSeparate},
		{"ChannelsOccupiedByPrefix", testChannelsOccupiedByPrefix},
		{"PresenceFirstAndLast", testPresenceFirstAndLast},
		{"PresenceSameSocketTwice", testPresenceSameSocketTwice},
		{"MemberLimit", testMemberLimit},
		{"MembersAndUserInfo", testMembersAndUserInfo},
		{"PresenceSocketsAreSubscriptions", testPresenceSocketsAreSubscriptions},
		{"Cache", testCache},
		{"CacheExpires", testCacheExpires},
		{"Users", testUsers},
		{"ConcurrentChurn", testConcurrentChurn},
		{"ConcurrentFirstAndLast", testConcurrentFirstAndLast},
		{"ConcurrentMemberLimit", testConcurrentMemberLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, &state{t: t, s: open(t), ctx: t.Context(), app: uniqueApp(t)})
		})
	}
}

// state binds a State to one test and app, and fails the test on any
// error the steps do not expect.
type state struct {
	t   *testing.T
	s   bus.State
	ctx context.Context
	app string
}

func (f *state) sub(ch, socket string) int {
	f.t.Helper()
	n, err := f.s.AddSubscription(f.ctx, f.app, ch, socket)
	if err != nil {
		f.t.Fatalf("AddSubscription(%s, %s): %v", ch, socket, err)
	}
	return n
}

func (f *state) unsub(ch, socket string) int {
	f.t.Helper()
	n, err := f.s.RemoveSubscription(f.ctx, f.app, ch, socket)
	if err != nil {
		f.t.Fatalf("RemoveSubscription(%s, %s): %v", ch, socket, err)
	}
	return n
}

// join adds socket as a connection of user with no user_info and no limit.
func (f *state) join(ch, socket, user string) (first bool) {
	f.t.Helper()
	u, err := f.s.AddMember(f.ctx, f.app, ch, socket, protocol.Member{UserID: user}, 0)
	if err != nil {
		f.t.Fatalf("AddMember(%s, %s, %s): %v", ch, socket, user, err)
	}
	f.wantSubscriptions("AddMember", ch, u.Subscriptions)
	return u.UserChanged
}

func (f *state) leave(ch, socket, user string) (last bool) {
	f.t.Helper()
	u, err := f.s.RemoveMember(f.ctx, f.app, ch, socket, user)
	if err != nil {
		f.t.Fatalf("RemoveMember(%s, %s, %s): %v", ch, socket, user, err)
	}
	f.wantSubscriptions("RemoveMember", ch, u.Subscriptions)
	return u.UserChanged
}

// wantSubscriptions checks the count an update reported against the
// channel's count read afterwards (tests that call it run one update at a
// time).
func (f *state) wantSubscriptions(op, ch string, reported int) {
	f.t.Helper()
	if got := f.counts(ch).Subscriptions; got != reported {
		f.t.Fatalf("%s(%s) reported %d subscriptions, the channel has %d", op, ch, reported, got)
	}
}

func (f *state) counts(ch string) bus.Counts {
	f.t.Helper()
	c, err := f.s.Channel(f.ctx, f.app, ch)
	if err != nil {
		f.t.Fatalf("Channel(%s): %v", ch, err)
	}
	return c
}

func (f *state) wantCounts(ch string, subs, users int) {
	f.t.Helper()
	if got, want := f.counts(ch), (bus.Counts{Subscriptions: subs, Users: users}); got != want {
		f.t.Fatalf("Channel(%s) = %+v, want %+v", ch, got, want)
	}
}

func (f *state) channels(prefix string) map[string]bus.Counts {
	f.t.Helper()
	m, err := f.s.Channels(f.ctx, f.app, prefix)
	if err != nil {
		f.t.Fatalf("Channels(%q): %v", prefix, err)
	}
	return m
}

// members returns a presence channel's members as user id → user_info.
func (f *state) members(ch string) map[string]json.RawMessage {
	f.t.Helper()
	ms, err := f.s.Members(f.ctx, f.app, ch)
	if err != nil {
		f.t.Fatalf("Members(%s): %v", ch, err)
	}
	out := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		if _, dup := out[m.UserID]; dup {
			f.t.Fatalf("Members(%s) lists %s twice: %+v", ch, m.UserID, ms)
		}
		out[m.UserID] = m.UserInfo
	}
	return out
}

func (f *state) wantMembers(ch string, users ...string) {
	f.t.Helper()
	got := slices.Sorted(maps.Keys(f.members(ch)))
	slices.Sort(users)
	if !slices.Equal(got, users) {
		f.t.Fatalf("Members(%s) = %v, want %v", ch, got, users)
	}
}

func (f *state) online(ids ...string) []string {
	f.t.Helper()
	got, err := f.s.OnlineUsers(f.ctx, f.app, ids)
	if err != nil {
		f.t.Fatalf("OnlineUsers(%v): %v", ids, err)
	}
	return slices.Sorted(slices.Values(got))
}

func testSubscriptionCounts(t *testing.T, f *state) {
	for _, step := range []struct {
		add    bool
		socket string
		want   int
	}{
		{true, "1.1", 1},
		{true, "1.2", 2},
		{true, "1.2", 2}, // the same socket again: idempotent
		{false, "1.1", 1},
		{false, "1.1", 1}, // removed twice: idempotent
		{false, "9.9", 1}, // never subscribed
		{true, "1.3", 2},
	} {
		var got int
		if step.add {
			got = f.sub("news", step.socket)
		} else {
			got = f.unsub("news", step.socket)
		}
		if got != step.want {
			t.Fatalf("add=%v %s: count %d, want %d", step.add, step.socket, got, step.want)
		}
	}
	f.wantCounts("news", 2, 0)
	f.unsub("news", "1.2")
	if n := f.unsub("news", "1.3"); n != 0 {
		t.Fatalf("last socket left: count %d", n)
	}
	f.wantCounts("news", 0, 0)
	if n := f.unsub("never-used", "1.1"); n != 0 {
		t.Fatalf("unsubscribe from an unknown channel: count %d", n)
	}
	f.wantCounts("never-used", 0, 0)
}

func testAppsAreSeparate(t *testing.T, f *state) {
	other := &state{t: t, s: f.s, ctx: f.ctx, app: uniqueApp(t)}
	f.sub("news", "1.1")
	f.sub("news", "1.2")
	other.sub("news", "1.1")
	f.join("presence-room", "1.1", "u")
	f.wantCounts("news", 2, 0)
	other.wantCounts("news", 1, 0)
	other.wantCounts("presence-room", 0, 0)
	other.wantMembers("presence-room")
	if got := other.channels(""); len(got) != 1 {
		t.Fatalf("other app's channels: %v", got)
	}
	if first, err := f.s.AddUser(f.ctx, other.app, "u", "1.1"); !first || err != nil {
		t.Fatalf("user u in another app: first=%v err=%v", first, err)
	}
	if got := f.online("u"); len(got) != 0 {
		t.Fatalf("a user signed in to another app is online here: %v", got)
	}
}

func testChannelsOccupiedByPrefix(t *testing.T, f *state) {
	f.sub("news", "1.1")
	f.sub("news-sports", "1.1")
	f.sub("news-sports", "1.2")
	f.sub("private-a", "1.3")
	f.join("presence-room", "1.1", "ann")
	f.join("presence-room", "1.2", "ann")
	f.join("presence-room", "1.3", "bob")
	f.sub("vacated", "1.4")
	f.unsub("vacated", "1.4")
	f.join("presence-vacated", "1.4", "ann")
	f.leave("presence-vacated", "1.4", "ann")
	if err := f.s.SetCache(f.ctx, f.app, "cache-only", bus.CachedEvent{Event: "e", Data: []byte(`"d"`)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	other := &state{t: t, s: f.s, ctx: f.ctx, app: uniqueApp(t)}
	other.sub("news-elsewhere", "1.1")

	for _, tc := range []struct {
		prefix string
		want   map[string]bus.Counts
	}{
		{"", map[string]bus.Counts{
			"news":          {Subscriptions: 1},
			"news-sports":   {Subscriptions: 2},
			"private-a":     {Subscriptions: 1},
			"presence-room": {Subscriptions: 3, Users: 2},
		}},
		{"news", map[string]bus.Counts{
			"news":        {Subscriptions: 1},
			"news-sports": {Subscriptions: 2},
		}},
		{"presence-", map[string]bus.Counts{"presence-room": {Subscriptions: 3, Users: 2}}},
		{"private-a", map[string]bus.Counts{"private-a": {Subscriptions: 1}}},
		{"nothing-", map[string]bus.Counts{}},
	} {
		if got := f.channels(tc.prefix); !maps.Equal(got, tc.want) {
			t.Errorf("Channels(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
}

func testPresenceFirstAndLast(t *testing.T, f *state) {
	const ch = "presence-room"
	if !f.join(ch, "1.1", "ann") {
		t.Fatal("ann's first socket: not first")
	}
	if f.join(ch, "1.2", "ann") {
		t.Fatal("ann's second socket: first")
	}
	f.wantCounts(ch, 2, 1)
	f.wantMembers(ch, "ann")
	if f.leave(ch, "1.1", "ann") {
		t.Fatal("ann still has socket 1.2: last")
	}
	f.wantCounts(ch, 1, 1)
	f.wantMembers(ch, "ann")
	if !f.leave(ch, "1.2", "ann") {
		t.Fatal("ann's last socket left: not last")
	}
	f.wantCounts(ch, 0, 0)
	f.wantMembers(ch)
	if f.leave(ch, "1.2", "ann") {
		t.Fatal("removing a socket twice: last again")
	}
	if f.leave(ch, "9.9", "ann") {
		t.Fatal("removing an unknown socket: last")
	}
	if !f.join(ch, "1.3", "ann") {
		t.Fatal("ann came back: not first")
	}
	f.wantCounts(ch, 1, 1)
}

func testPresenceSameSocketTwice(t *testing.T, f *state) {
	const ch = "presence-room"
	f.join(ch, "1.1", "ann")
	if f.join(ch, "1.1", "ann") {
		t.Fatal("the same socket joining again: first")
	}
	f.wantCounts(ch, 1, 1)
	if !f.leave(ch, "1.1", "ann") {
		t.Fatal("a socket added twice is still one connection: not last after one leave")
	}
	f.wantCounts(ch, 0, 0)
}

func testMemberLimit(t *testing.T, f *state) {
	const ch, limit = "presence-full", 2
	add := func(socket, user string) (bool, error) {
		u, err := f.s.AddMember(f.ctx, f.app, ch, socket, protocol.Member{UserID: user, UserInfo: json.RawMessage(`{"u":"` + user + `"}`)}, limit)
		return u.UserChanged, err
	}
	for _, s := range []struct{ socket, user string }{{"1.1", "ann"}, {"1.2", "bob"}} {
		if first, err := add(s.socket, s.user); !first || err != nil {
			t.Fatalf("%s below the limit: first=%v err=%v", s.user, first, err)
		}
	}
	first, err := add("1.3", "cat")
	if !errors.Is(err, bus.ErrMemberLimit) {
		t.Fatalf("third user over a limit of %d: err=%v, want ErrMemberLimit", limit, err)
	}
	if first {
		t.Fatal("refused member reported first")
	}
	f.wantCounts(ch, 2, 2) // the refused socket is no subscription either
	f.wantMembers(ch, "ann", "bob")
	if f.leave(ch, "1.3", "cat") {
		t.Fatal("removing the refused member: last")
	}
	if n := f.unsub(ch, "1.3"); n != 2 {
		t.Fatalf("unsubscribing the refused socket: count %d", n)
	}

	if first, err := add("1.4", "ann"); first || err != nil {
		t.Fatalf("ann's second socket in a full channel: first=%v err=%v", first, err)
	}
	f.wantCounts(ch, 3, 2)

	f.leave(ch, "1.2", "bob")
	if first, err := add("1.3", "cat"); !first || err != nil {
		t.Fatalf("cat after bob left: first=%v err=%v", first, err)
	}
	f.wantMembers(ch, "ann", "cat")

	// A limit of 0 means none: more than Pusher's default of 100 join.
	for i := range protocol.DefaultMaxPresenceMembers + 20 {
		id := strconv.Itoa(i)
		if !f.join("presence-unlimited", "2."+id, "user-"+id) {
			t.Fatalf("user %d: not first", i)
		}
	}
	f.wantCounts("presence-unlimited", protocol.DefaultMaxPresenceMembers+20, protocol.DefaultMaxPresenceMembers+20)
}

func testMembersAndUserInfo(t *testing.T, f *state) {
	const ch = "presence-room"
	f.wantMembers("presence-nobody-here")
	for _, m := range []struct {
		socket string
		member protocol.Member
	}{
		{"1.1", protocol.Member{UserID: "ann", UserInfo: json.RawMessage(`{"name":"Ann","tags":["a","b"],"n":1.5}`)}},
		{"1.2", protocol.Member{UserID: "ann", UserInfo: json.RawMessage(`{"name":"Ann","tags":["a","b"],"n":1.5}`)}},
		{"1.3", protocol.Member{UserID: "bob", UserInfo: json.RawMessage(`"just a string"`)}},
		{"1.4", protocol.Member{UserID: "42"}},
	} {
		if _, err := f.s.AddMember(f.ctx, f.app, ch, m.socket, m.member, 0); err != nil {
			t.Fatal(err)
		}
	}
	got := f.members(ch)
	want := map[string]string{"ann": `{"name":"Ann","tags":["a","b"],"n":1.5}`, "bob": `"just a string"`, "42": ``}
	if len(got) != len(want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	for user, info := range want {
		g, ok := got[user]
		if !ok {
			t.Fatalf("member %s missing: %v", user, got)
		}
		if !sameJSON(g, []byte(info)) {
			t.Errorf("user_info of %s = %s, want %s", user, g, info)
		}
	}
	if c := f.counts(ch); c.Users != len(got) {
		t.Fatalf("Channel counts %d users, Members lists %d", c.Users, len(got))
	}
}

// sameJSON compares JSON values by meaning, so a backend may store them
// re-encoded; an absent value and null are the same.
func sameJSON(a, b []byte) bool {
	norm := func(v []byte) any {
		v = bytes.TrimSpace(v)
		if len(v) == 0 {
			return nil
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Sprintf("invalid JSON %q", v)
		}
		return x
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func testPresenceSocketsAreSubscriptions(t *testing.T, f *state) {
	const ch = "presence-room"
	f.join(ch, "1.1", "ann")
	f.join(ch, "1.2", "ann")
	f.join(ch, "1.3", "bob")
	f.wantCounts(ch, 3, 2)
	if got := f.channels("presence-")[ch]; got != (bus.Counts{Subscriptions: 3, Users: 2}) {
		t.Fatalf("Channels: %+v", got)
	}
	if n := f.sub(ch, "1.1"); n != 3 {
		t.Fatalf("AddSubscription of a member's socket: count %d, want 3", n)
	}
	f.wantMembers(ch, "ann", "bob")

	// Closing a socket only calls RemoveSubscription: it must take the
	// socket's membership with it.
	if n := f.unsub(ch, "1.1"); n != 2 {
		t.Fatalf("RemoveSubscription(1.1): count %d", n)
	}
	f.wantCounts(ch, 2, 2)
	if n := f.unsub(ch, "1.2"); n != 1 {
		t.Fatalf("RemoveSubscription(1.2): count %d", n)
	}
	f.wantCounts(ch, 1, 1)
	f.wantMembers(ch, "bob")
	if f.leave(ch, "1.2", "ann") {
		t.Fatal("RemoveMember after RemoveSubscription: last again")
	}
	if n := f.unsub(ch, "1.3"); n != 0 {
		t.Fatalf("RemoveSubscription(1.3): count %d", n)
	}
	f.wantCounts(ch, 0, 0)
	f.wantMembers(ch)
	if got := f.channels(""); len(got) != 0 {
		t.Fatalf("vacated presence channel listed: %v", got)
	}
	if !f.join(ch, "1.1", "ann") {
		t.Fatal("ann rejoining after RemoveSubscription: not first")
	}
}

func testCache(t *testing.T, f *state) {
	const ch = "cache-x"
	get := func(app, ch string) (bus.CachedEvent, bool) {
		t.Helper()
		ev, ok, err := f.s.Cache(f.ctx, app, ch)
		if err != nil {
			t.Fatalf("Cache(%s): %v", ch, err)
		}
		return ev, ok
	}
	set := func(ch, event, data string) {
		t.Helper()
		if err := f.s.SetCache(f.ctx, f.app, ch, bus.CachedEvent{Event: event, Data: []byte(data)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := get(f.app, ch); ok {
		t.Fatal("hit before SetCache")
	}
	before := time.Now()
	set(ch, "first", `"one"`)
	set(ch, "second", `{"n":2}`)
	after := time.Now()
	ev, ok := get(f.app, ch)
	if !ok || ev.Event != "second" || !sameJSON(ev.Data, []byte(`{"n":2}`)) {
		t.Fatalf("Cache = %+v %v, want the last event set", ev, ok)
	}
	// Backends keep expiry at millisecond or second resolution.
	if ev.Expires.Before(before.Add(time.Hour-2*time.Second)) || ev.Expires.After(after.Add(time.Hour+2*time.Second)) {
		t.Fatalf("Expires %v, want about an hour after %v", ev.Expires, before)
	}
	if _, ok := get(f.app, "cache-y"); ok {
		t.Fatal("another channel hit")
	}
	if _, ok := get(uniqueApp(t), ch); ok {
		t.Fatal("another app hit")
	}

	if got := f.channels(""); len(got) != 0 {
		t.Fatalf("a cached event makes a channel occupied: %v", got)
	}
	f.sub(ch, "1.1")
	f.unsub(ch, "1.1")
	if _, ok := get(f.app, ch); !ok {
		t.Fatal("the last subscriber leaving dropped the cached event")
	}
}

func testCacheExpires(t *testing.T, f *state) {
	if err := f.s.SetCache(f.ctx, f.app, "cache-short", bus.CachedEvent{Event: "e", Data: []byte(`"d"`)}, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetCache(f.ctx, f.app, "cache-long", bus.CachedEvent{Event: "e", Data: []byte(`"d"`)}, time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		_, ok, err := f.s.Cache(f.ctx, f.app, "cache-short")
		if err != nil || ok {
			return fmt.Errorf("cached event with a 50ms ttl still there: ok=%v err=%v", ok, err)
		}
		return nil
	})
	if _, ok, err := f.s.Cache(f.ctx, f.app, "cache-long"); !ok || err != nil {
		t.Fatalf("the other channel's event expired too: ok=%v err=%v", ok, err)
	}
}

func testUsers(t *testing.T, f *state) {
	add := func(user, socket string) bool {
		t.Helper()
		first, err := f.s.AddUser(f.ctx, f.app, user, socket)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	remove := func(user, socket string) bool {
		t.Helper()
		last, err := f.s.RemoveUser(f.ctx, f.app, user, socket)
		if err != nil {
			t.Fatal(err)
		}
		return last
	}
	if got := f.online("ann"); len(got) != 0 {
		t.Fatalf("online before any sign-in: %v", got)
	}
	if !add("ann", "1.1") {
		t.Fatal("ann's first connection: not first")
	}
	if add("ann", "1.2") {
		t.Fatal("ann's second connection: first")
	}
	if add("ann", "1.2") {
		t.Fatal("the same connection again: first")
	}
	if !add("bob", "1.3") {
		t.Fatal("bob's first connection: not first")
	}
	if add("bob", "1.3") {
		t.Fatal("bob's only connection again: first")
	}
	if got := f.online("ann", "bob", "cat"); !slices.Equal(got, []string{"ann", "bob"}) {
		t.Fatalf("OnlineUsers = %v, want [ann bob]", got)
	}
	if got := f.online(); len(got) != 0 {
		t.Fatalf("OnlineUsers of no ids = %v", got)
	}
	if remove("ann", "9.9") {
		t.Fatal("removing an unknown connection: last")
	}
	if remove("ann", "1.1") {
		t.Fatal("ann still has 1.2: last")
	}
	if !remove("ann", "1.2") {
		t.Fatal("ann's last connection: not last")
	}
	if remove("ann", "1.2") {
		t.Fatal("removing twice: last again")
	}
	if got := f.online("ann", "bob"); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("OnlineUsers = %v, want [bob]", got)
	}
	if !add("ann", "1.4") {
		t.Fatal("ann back: not first")
	}
}

// testConcurrentChurn runs many goroutines against one channel of each
// kind; run with -race. Each goroutine keeps its odd-numbered sockets.
func testConcurrentChurn(t *testing.T, f *state) {
	const goroutines, perG, users = 8, 100, 10
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				socket, user := fmt.Sprintf("%d.%d", g, i), fmt.Sprintf("u%d", i%users)
				steps := []error{
					second(f.s.AddSubscription(f.ctx, f.app, "busy", socket)),
					second(f.s.AddMember(f.ctx, f.app, "presence-busy", socket, protocol.Member{UserID: user}, 0)),
					second(f.s.AddUser(f.ctx, f.app, user, socket)),
				}
				if i%2 == 0 {
					steps = append(steps,
						second(f.s.RemoveSubscription(f.ctx, f.app, "busy", socket)),
						second(f.s.RemoveMember(f.ctx, f.app, "presence-busy", socket, user)),
						second(f.s.RemoveUser(f.ctx, f.app, user, socket)),
					)
				}
				if err := errors.Join(steps...); err != nil {
					t.Errorf("socket %s: %v", socket, err)
					return
				}
			}
		})
	}
	// Readers run alongside so -race sees them against the writers.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = f.s.Channels(f.ctx, f.app, "")
			_, _ = f.s.Members(f.ctx, f.app, "presence-busy")
			_, _ = f.s.OnlineUsers(f.ctx, f.app, []string{"u1", "u2"})
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()

	kept := goroutines * perG / 2
	f.wantCounts("busy", kept, 0)
	f.wantCounts("presence-busy", kept, users/2)
	f.wantMembers("presence-busy", "u1", "u3", "u5", "u7", "u9")
	if got := f.online("u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"); !slices.Equal(got, []string{"u1", "u3", "u5", "u7", "u9"}) {
		t.Fatalf("online after churn: %v", got)
	}
}

func second[T any](_ T, err error) error { return err }

// testConcurrentFirstAndLast checks that first and last are decided
// atomically: when one user's sockets join or leave all at once, exactly
// one of them is told it was the first or the last.
func testConcurrentFirstAndLast(t *testing.T, f *state) {
	const n = 32
	count := func(op func(socket string) (bool, error)) int {
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		hits := 0
		for i := range n {
			wg.Go(func() {
				<-start
				ok, err := op(fmt.Sprintf("1.%d", i))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					hits++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		return hits
	}
	const ch = "presence-race"
	if got := count(func(s string) (bool, error) {
		u, err := f.s.AddMember(f.ctx, f.app, ch, s, protocol.Member{UserID: "ann"}, 0)
		return u.UserChanged, err
	}); got != 1 {
		t.Fatalf("%d concurrent joins of one user: %d were first, want 1", n, got)
	}
	f.wantCounts(ch, n, 1)
	if got := count(func(s string) (bool, error) {
		u, err := f.s.RemoveMember(f.ctx, f.app, ch, s, "ann")
		return u.UserChanged, err
	}); got != 1 {
		t.Fatalf("%d concurrent leaves of one user: %d were last, want 1", n, got)
	}
	f.wantCounts(ch, 0, 0)

	if got := count(func(s string) (bool, error) { return f.s.AddUser(f.ctx, f.app, "ann", s) }); got != 1 {
		t.Fatalf("%d concurrent sign-ins of one user: %d were first, want 1", n, got)
	}
	if got := count(func(s string) (bool, error) { return f.s.RemoveUser(f.ctx, f.app, "ann", s) }); got != 1 {
		t.Fatalf("%d concurrent sign-outs of one user: %d were last, want 1", n, got)
	}
	if got := f.online("ann"); len(got) != 0 {
		t.Fatalf("still online: %v", got)
	}
}

// testConcurrentMemberLimit checks that the limit holds when many new
// users race for the last places.
func testConcurrentMemberLimit(t *testing.T, f *state) {
	const ch, n, limit = "presence-crowd", 40, 8
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, refused := 0, 0
	for i := range n {
		wg.Go(func() {
			<-start
			u, err := f.s.AddMember(f.ctx, f.app, ch, fmt.Sprintf("1.%d", i), protocol.Member{UserID: fmt.Sprintf("u%d", i)}, limit)
			first := u.UserChanged
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && first:
				admitted++
			case errors.Is(err, bus.ErrMemberLimit) && !first:
				refused++
			default:
				t.Errorf("user %d: first=%v err=%v", i, first, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if admitted != limit || refused != n-limit {
		t.Fatalf("admitted %d and refused %d of %d, want %d and %d", admitted, refused, n, limit, n-limit)
	}
	f.wantCounts(ch, limit, limit)
}
