package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Session is one signed-in browser. Stores keep only the SHA-256 of its
// id: the id carries 256 random bits, so a fast hash suffices to make a
// stolen table useless, as for API tokens.
type Session struct {
	IDHash    []byte
	UserID    string
	CSRF      string // per-session token every form posts back
	CreatedAt time.Time
	ExpiresAt time.Time
}

// NewSessionID returns a fresh session id for the cookie and the hash
// under which stores keep it.
func NewSessionID() (id string, hash []byte) {
	id = randomToken()
	return id, HashSessionID(id)
}

// HashSessionID is the stored form of a session id.
func HashSessionID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// NewCSRFToken returns a random token for forms.
func NewCSRFToken() string { return randomToken() }

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
