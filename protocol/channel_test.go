package protocol_test

import (
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/protocol"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		name         string
		kind         protocol.Kind
		cache, auth  bool
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
		{"privatex", protocol.KindPublic, false, false, false},
	}
	for _, tc := range cases {
		c := protocol.Classify(tc.name)
		if c.Kind != tc.kind || c.Cache != tc.cache || c.NeedsAuth() != tc.auth || c.AllowsClientEvents() != tc.clientEvents {
			t.Errorf("%s: %+v auth=%v client=%v", tc.name, c, c.NeedsAuth(), c.AllowsClientEvents())
		}
	}
}

func TestValidChannelName(t *testing.T) {
	good := []string{"a", "news", "private-x", "A-Za-z0-9_-=@,.;", strings.Repeat("a", 164), "#server-to-user-7", "#server-to-user-a@b.c"}
	bad := []string{"", "has space", "colon:x", strings.Repeat("a", 165), "#foo", "#server-to-user-", "#server-to-user-a b", "é", "tab\t", "slash/"}
	for _, n := range good {
		if !protocol.ValidChannelName(n, 164) {
			t.Errorf("refused %q", n)
		}
	}
	for _, n := range bad {
		if protocol.ValidChannelName(n, 164) {
			t.Errorf("accepted %q", n)
		}
	}
	if !protocol.ValidChannelName(strings.Repeat("a", 200), 200) {
		t.Error("configured length ignored")
	}
}

func TestValidSocketIDAndEventName(t *testing.T) {
	for _, id := range []string{"1.2", "123456.7891011", "0.0"} {
		if !protocol.ValidSocketID(id) {
			t.Errorf("refused %q", id)
		}
	}
	for _, id := range []string{"", "1", "1.", ".1", "a.1", "1.2.3", "-1.2", "1.2 ", "+1.2"} {
		if protocol.ValidSocketID(id) {
			t.Errorf("accepted %q", id)
		}
	}
	if !protocol.ValidEventName("my-event", 200) || protocol.ValidEventName("", 200) ||
		protocol.ValidEventName("pusher:x", 200) || protocol.ValidEventName("pusher_internal:x", 200) ||
		protocol.ValidEventName(strings.Repeat("e", 201), 200) {
		t.Error("event name rules")
	}
}

func TestCloseActions(t *testing.T) {
	cases := map[int]protocol.Action{
		1000: protocol.ActionReconnect, 1006: protocol.ActionReconnect, 1002: protocol.ActionBackoff,
		4000: protocol.ActionTLSOnly, 4001: protocol.ActionRefused, 4009: protocol.ActionRefused, 4099: protocol.ActionRefused,
		4100: protocol.ActionBackoff, 4200: protocol.ActionRetry, 4201: protocol.ActionRetry, 4301: protocol.ActionRefused,
	}
	for code, want := range cases {
		if got := protocol.CloseAction(code); got != want {
			t.Errorf("%d: %v, want %v", code, got, want)
		}
	}
	// The table's closing errors use the codes whose action they intend.
	if protocol.CloseAction(protocol.ErrServerClosing.Code) != protocol.ActionRetry ||
		protocol.CloseAction(protocol.ErrSlowConsumer.Code) != protocol.ActionBackoff ||
		protocol.CloseAction(protocol.ErrTerminated.Code) != protocol.ActionRefused ||
		protocol.ErrClientEventRateLimit.Closes() {
		t.Error("error table codes")
	}
}
