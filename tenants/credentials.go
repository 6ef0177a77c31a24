package tenants

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// NewKey returns a fresh key pair in Pusher's shape: a 20-hex-digit public
// key and a 20-hex-digit secret (80 random bits each).
func NewKey() Key {
	return Key{Key: randomHex(10), Secret: randomHex(10)}
}

// NewToken returns a management API token (TokenPrefix + 32 random bytes,
// base64url) and the hash under which stores keep it.
func NewToken() (token string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the SHA-256 of a token: tokens carry 256 random bits, so a
// fast unsalted hash is enough to make a stolen table useless.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewTenantID returns a fresh tenant id such as "tn_3f9a…".
func NewTenantID() string { return "tn_" + randomHex(8) }

// NewTokenID returns a fresh token id such as "tok_91c2…".
func NewTokenID() string { return "tok_" + randomHex(6) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
