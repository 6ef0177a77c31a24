package protocol_test

import (
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
)

// TestClassify has one row per prefix of the protocol doc's table (§2.2),
// plus names that only look like a prefix.
func TestClassify(t *testing.T) {
	cases := []struct {
		name         string
		kind         protocol.Kind
		cache        bool
		auth         bool
		clientEvents bool
	}{
		{"private-encrypted-cache-x", protocol.KindEncrypted, true, true, false},
		{"private-encrypted-x", protocol.KindEncrypted, false, true, false},
		{"private-cache-x", protocol.KindPrivate, true, true, true},
		{"private-x", protocol.KindPrivate, false, true, true},
		{"presence-cache-x", protocol.KindPresence, true, true, true},
		{"presence-x", protocol.KindPresence, false, true, true},
		{"cache-x", protocol.KindPublic, true, false, false},
		{"#server-to-user-7", protocol.KindServerToUser, false, false, false},
		{"news", protocol.KindPublic, false, false, false},

		// Prefix matching is exact and case-sensitive.
		{"privatex", protocol.KindPublic, false, false, false},
		{"Private-x", protocol.KindPublic, false, false, false},
		{"presencex", protocol.KindPublic, false, false, false},
		{"my-private-x", protocol.KindPublic, false, false, false},
		{"cachex", protocol.KindPublic, false, false, false},
		{"private-encryptedx", protocol.KindPrivate, false, true, true},
		{"private-encrypted-cachex", protocol.KindEncrypted, false, true, false},
		{"private-cachex", protocol.KindPrivate, false, true, true},
		{"presence-cachex", protocol.KindPresence, false, true, true},
		{"#server-to-user", protocol.KindPublic, false, false, false},
		{"", protocol.KindPublic, false, false, false},
	}
	for _, tc := range cases {
		c := protocol.Classify(tc.name)
		if c.Kind != tc.kind || c.Cache != tc.cache {
			t.Errorf("Classify(%q) = %+v, want kind %v cache %v", tc.name, c, tc.kind, tc.cache)
		}
		if c.NeedsAuth() != tc.auth {
			t.Errorf("%q: NeedsAuth = %v, want %v", tc.name, c.NeedsAuth(), tc.auth)
		}
		if c.AllowsClientEvents() != tc.clientEvents {
			t.Errorf("%q: AllowsClientEvents = %v, want %v", tc.name, c.AllowsClientEvents(), tc.clientEvents)
		}
	}
}

func TestKindTraits(t *testing.T) {
	cases := []struct {
		kind         protocol.Kind
		auth         bool
		clientEvents bool
	}{
		{protocol.KindPublic, false, false},
		{protocol.KindPrivate, true, true},
		{protocol.KindPresence, true, true},
		{protocol.KindEncrypted, true, false},
		{protocol.KindServerToUser, false, false},
	}
	for _, tc := range cases {
		for _, cache := range []bool{false, true} {
			c := protocol.Channel{Kind: tc.kind, Cache: cache}
			if c.NeedsAuth() != tc.auth || c.AllowsClientEvents() != tc.clientEvents {
				t.Errorf("%+v: NeedsAuth %v AllowsClientEvents %v", c, c.NeedsAuth(), c.AllowsClientEvents())
			}
		}
	}
}

func TestServerToUserID(t *testing.T) {
	cases := []struct {
		name, id string
		ok       bool
	}{
		{"#server-to-user-12345", "12345", true},
		{"#server-to-user-a@b.c", "a@b.c", true},
		{"#server-to-user-", "", false},
		{"server-to-user-1", "", false},
		{"private-1", "", false},
	}
	for _, tc := range cases {
		id, ok := protocol.ServerToUserID(tc.name)
		if id != tc.id || ok != tc.ok {
			t.Errorf("ServerToUserID(%q) = %q, %v; want %q, %v", tc.name, id, ok, tc.id, tc.ok)
		}
	}
}

func TestValidChannelName(t *testing.T) {
	max := protocol.DefaultMaxChannelNameLength
	if max != 164 {
		t.Fatalf("DefaultMaxChannelNameLength = %d, the doc says 164", max)
	}
	cases := []struct {
		name string
		want bool
	}{
		{"a", true},
		{"news", true},
		{"private-x", true},
		{"presence-encrypted-cache-room", true},
		{"Z9", true},
		{"A-Za-z0-9_-=@,.;", true},
		{strings.Repeat("a", 164), true},
		{"private-" + strings.Repeat("a", 164-len("private-")), true}, // prefix counts
		{strings.Repeat("a", 165), false},
		{"private-" + strings.Repeat("a", 165-len("private-")), false},
		{"", false},
		{" ", false},
		{"has space", false},
		{"trailing ", false},
		{"colon:x", false},
		{"pusher:x", false},
		{"tab\t", false},
		{"nl\n", false},
		{"nul\x00", false},
		{"slash/", false},
		{"back\\slash", false},
		{"quote\"", false},
		{"plus+", false},
		{"star*", false},
		{"pct%", false},
		{"é", false},
		{"\xff", false},

		// The only legal '#' name is the server-to-user channel.
		{"#server-to-user-7", true},
		{"#server-to-user-a@b.c", true},
		{"#server-to-user-" + strings.Repeat("7", 164-len("#server-to-user-")), true},
		{"#server-to-user-" + strings.Repeat("7", 165-len("#server-to-user-")), false},
		{"#foo", false},
		{"#", false},
		{"#server-to-user-", false},
		{"#server-to-user-a b", false},
		{"#server-to-user-#7", false},
		{"#server-to-user-a:b", false},
		{"a#b", false},
		{"private-#server-to-user-7", false},
	}
	// Every allowed punctuation byte, alone and inside a name.
	for _, c := range "_-=@,.;" {
		cases = append(cases, struct {
			name string
			want bool
		}{string(c), true}, struct {
			name string
			want bool
		}{"a" + string(c) + "b", true})
	}
	// Every other printable ASCII punctuation byte is refused.
	for c := byte('!'); c <= '~'; c++ {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-=@,.;", c) >= 0 {
			continue
		}
		cases = append(cases, struct {
			name string
			want bool
		}{"a" + string(c) + "b", false})
	}
	for _, tc := range cases {
		if got := protocol.ValidChannelName(tc.name, max); got != tc.want {
			t.Errorf("ValidChannelName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}

	// The limit is configurable per app.
	if !protocol.ValidChannelName(strings.Repeat("a", 200), 200) {
		t.Error("200-byte name refused with max 200")
	}
	if protocol.ValidChannelName(strings.Repeat("a", 11), 10) {
		t.Error("11-byte name accepted with max 10")
	}
}

func TestValidSocketID(t *testing.T) {
	cases := []struct {
		id   string
		want bool
	}{
		{"1234.1234", true},
		{"123456.7891011", true},
		{"1.2", true},
		{"0.0", true},
		{"18446744073709551615.18446744073709551615", true},
		{"", false},
		{".", false},
		{"1", false},
		{"1.", false},
		{".1", false},
		{"a.1", false},
		{"1.a", false},
		{"1.2.3", false},
		{"-1.2", false},
		{"+1.2", false},
		{"1.-2", false},
		{"1.2 ", false},
		{" 1.2", false},
		{"1,2", false},
		{"1.2\n", false},
		{"１.2", false}, // full-width digit
	}
	for _, tc := range cases {
		if got := protocol.ValidSocketID(tc.id); got != tc.want {
			t.Errorf("ValidSocketID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestValidEventName(t *testing.T) {
	max := protocol.DefaultMaxEventNameLength
	if max != 200 {
		t.Fatalf("DefaultMaxEventNameLength = %d, the doc says 200", max)
	}
	cases := []struct {
		name string
		want bool
	}{
		{"my-event", true},
		{"client-typing", true},
		{"order shipped", true},
		{"pusher", true},
		{"pusher-x", true},
		{"pusher_internalx", true},
		{strings.Repeat("e", 200), true},
		{strings.Repeat("e", 201), false},
		{"", false},
		{"pusher:", false},
		{"pusher:subscribe", false},
		{"pusher_internal:member_added", false},
	}
	for _, tc := range cases {
		if got := protocol.ValidEventName(tc.name, max); got != tc.want {
			t.Errorf("ValidEventName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestCloseAction follows pusher-js 8's getCloseAction (protocol doc §1.4).
func TestCloseAction(t *testing.T) {
	cases := []struct {
		code int
		want protocol.Action
	}{
		{1000, protocol.ActionReconnect},
		{1001, protocol.ActionReconnect},
		{1002, protocol.ActionBackoff},
		{1003, protocol.ActionBackoff},
		{1004, protocol.ActionBackoff},
		{1005, protocol.ActionReconnect},
		{1006, protocol.ActionReconnect},
		{1007, protocol.ActionReconnect},
		{1009, protocol.ActionReconnect},
		{1011, protocol.ActionReconnect},
		{3000, protocol.ActionReconnect},
		{3999, protocol.ActionReconnect},
		{4000, protocol.ActionTLSOnly},
		{4001, protocol.ActionRefused},
		{4003, protocol.ActionRefused},
		{4004, protocol.ActionRefused},
		{4005, protocol.ActionRefused},
		{4006, protocol.ActionRefused},
		{4007, protocol.ActionRefused},
		{4008, protocol.ActionRefused},
		{4009, protocol.ActionRefused},
		{4099, protocol.ActionRefused},
		{4100, protocol.ActionBackoff},
		{4150, protocol.ActionBackoff},
		{4199, protocol.ActionBackoff},
		{4200, protocol.ActionRetry},
		{4201, protocol.ActionRetry},
		{4202, protocol.ActionRetry},
		{4299, protocol.ActionRetry},
		{4300, protocol.ActionRefused},
		{4301, protocol.ActionRefused},
		{4302, protocol.ActionRefused},
		{4399, protocol.ActionRefused},
		{4999, protocol.ActionRefused},
		// pusher-js treats every code from 4300 up as unknown: refused.
		{5000, protocol.ActionRefused},
	}
	for _, tc := range cases {
		if got := protocol.CloseAction(tc.code); got != tc.want {
			t.Errorf("CloseAction(%d) = %v, want %v", tc.code, got, tc.want)
		}
	}
}

// TestErrorTable checks that every declared error has the code, and so the
// pusher-js action, the protocol doc gives it.
func TestErrorTable(t *testing.T) {
	cases := []struct {
		err    *protocol.Error
		code   int
		closes bool
		action protocol.Action
	}{
		{protocol.ErrTLSOnly, 4000, true, protocol.ActionTLSOnly},
		{protocol.ErrAppNotFound, 4001, true, protocol.ActionRefused},
		{protocol.ErrAppDisabled, 4003, true, protocol.ActionRefused},
		{protocol.ErrOverConnectionQuota, 4004, true, protocol.ActionRefused},
		{protocol.ErrPathNotFound, 4005, true, protocol.ActionRefused},
		{protocol.ErrInvalidVersion, 4006, true, protocol.ActionRefused},
		{protocol.ErrUnsupportedProtocol, 4007, true, protocol.ActionRefused},
		{protocol.ErrNoProtocol, 4008, true, protocol.ActionRefused},
		{protocol.ErrUnauthorized, 4009, true, protocol.ActionRefused},
		{protocol.ErrTerminated, 4009, true, protocol.ActionRefused},
		{protocol.ErrOverCapacity, 4100, true, protocol.ActionBackoff},
		{protocol.ErrSlowConsumer, 4100, true, protocol.ActionBackoff},
		{protocol.ErrServerClosing, 4200, true, protocol.ActionRetry},
		{protocol.ErrPongTimeout, 4201, true, protocol.ActionRetry},
		{protocol.ErrInactive, 4202, true, protocol.ActionRetry},
		{protocol.ErrClientEventRateLimit, 4301, false, protocol.ActionRefused},
		{protocol.ErrInvalidMessage, 0, false, protocol.ActionReconnect},
	}
	for _, tc := range cases {
		e := tc.err
		if e.Code != tc.code || e.Closes() != tc.closes || protocol.CloseAction(e.Code) != tc.action {
			t.Errorf("%q: code %d closes %v action %v; want %d %v %v",
				e.Message, e.Code, e.Closes(), protocol.CloseAction(e.Code), tc.code, tc.closes, tc.action)
		}
		if e.Message == "" || len(e.Message) > 123 {
			t.Errorf("code %d: message %q must fit a close frame reason", e.Code, e.Message)
		}
	}

	if got := protocol.ErrOverConnectionQuota.Error(); got != "pusher 4004: Application is over connection quota" {
		t.Errorf("Error() = %q", got)
	}
	if got := protocol.ErrInvalidMessage.Error(); got != "pusher: Invalid message format" {
		t.Errorf("Error() = %q", got)
	}
	w := protocol.ErrUnauthorized.WithMessage("Invalid signature")
	if w.Code != 4009 || w.Message != "Invalid signature" || protocol.ErrUnauthorized.Message != "Connection is unauthorized" {
		t.Errorf("WithMessage: %+v, original %+v", w, protocol.ErrUnauthorized)
	}
}
