package protocol

import "strings"

// Kind classifies a channel by its name prefix.
type Kind uint8

const (
	KindPublic Kind = iota
	KindPrivate
	KindPresence
	KindEncrypted
	KindServerToUser
)

// ServerToUserPrefix starts the reserved per-user channel.
const ServerToUserPrefix = "#server-to-user-"

// Channel describes a channel name's kind and traits.
type Channel struct {
	Kind  Kind
	Cache bool
}

// Classify returns the kind of a channel from its prefix, in the order the
// protocol gives (longest prefixes first).
func Classify(name string) Channel {
	switch {
	case strings.HasPrefix(name, "private-encrypted-cache-"):
		return Channel{KindEncrypted, true}
	case strings.HasPrefix(name, "private-encrypted-"):
		return Channel{KindEncrypted, false}
	case strings.HasPrefix(name, "private-cache-"):
		return Channel{KindPrivate, true}
	case strings.HasPrefix(name, "private-"):
		return Channel{KindPrivate, false}
	case strings.HasPrefix(name, "presence-cache-"):
		return Channel{KindPresence, true}
	case strings.HasPrefix(name, "presence-"):
		return Channel{KindPresence, false}
	case strings.HasPrefix(name, "cache-"):
		return Channel{KindPublic, true}
	case strings.HasPrefix(name, ServerToUserPrefix):
		return Channel{KindServerToUser, false}
	}
	return Channel{KindPublic, false}
}

// NeedsAuth reports whether subscribing needs a channel signature.
func (c Channel) NeedsAuth() bool {
	return c.Kind == KindPrivate || c.Kind == KindPresence || c.Kind == KindEncrypted
}

// AllowsClientEvents reports whether clients may trigger client-* events on
// the channel: private and presence channels (cache variants included), never
// public, encrypted or server-to-user ones.
func (c Channel) AllowsClientEvents() bool {
	return c.Kind == KindPrivate || c.Kind == KindPresence
}

// ServerToUserID returns the user id of a #server-to-user- channel.
func ServerToUserID(name string) (string, bool) {
	if !strings.HasPrefix(name, ServerToUserPrefix) {
		return "", false
	}
	id := name[len(ServerToUserPrefix):]
	return id, id != ""
}

// ValidChannelName reports whether name is a legal channel name of at most
// maxLen bytes: letters, digits and _ - = @ , . ; — or the reserved
// #server-to-user-{id} form, whose id follows the same character rules.
func ValidChannelName(name string, maxLen int) bool {
	if name == "" || len(name) > maxLen {
		return false
	}
	if strings.HasPrefix(name, "#") {
		id, ok := ServerToUserID(name)
		return ok && validNameChars(id)
	}
	return validNameChars(name)
}

func validNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !channelByte[s[i]] {
			return false
		}
	}
	return true
}

var channelByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-=@,.;" {
		t[c] = true
	}
	return t
}()

// ValidSocketID reports whether id has Pusher's socket id form: two unsigned
// decimal integers joined by a dot.
func ValidSocketID(id string) bool {
	dot := strings.IndexByte(id, '.')
	return dot > 0 && dot < len(id)-1 && allDigits(id[:dot]) && allDigits(id[dot+1:])
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ValidEventName reports whether an event name is non-empty, within maxLen
// and not in a namespace reserved for the protocol.
func ValidEventName(name string, maxLen int) bool {
	return name != "" && len(name) <= maxLen &&
		!strings.HasPrefix(name, PrefixPusher) && !strings.HasPrefix(name, PrefixInternal)
}
