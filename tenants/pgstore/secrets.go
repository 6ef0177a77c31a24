package pgstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Keyring seals app secrets with AES-256-GCM under the current master key
// and opens them under it or any previous one, so the master key can be
// rotated: start with the new key current and the old one previous, run
// Store.Reseal, then drop the old one.
//
// A master key's id is the first 8 bytes of its SHA-256, in hex: stored
// beside each ciphertext, it names the key that opens it without naming
// the key itself.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD // key id → cipher
}

// ErrNoSecretKey is returned when no master key is configured.
var ErrNoSecretKey = errors.New("no secret key")

// ParseKeyring reads the current master key and any previous ones, each
// base64 (standard or URL alphabet, padded or not) of exactly 32 bytes.
func ParseKeyring(current string, previous []string) (*Keyring, error) {
	if strings.TrimSpace(current) == "" {
		return nil, ErrNoSecretKey
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	id, err := k.add(current)
	if err != nil {
		return nil, fmt.Errorf("current key: %w", err)
	}
	k.current = id
	for i, p := range previous {
		if strings.TrimSpace(p) == "" {
			continue
		}
		if _, err := k.add(p); err != nil {
			return nil, fmt.Errorf("previous key #%d: %w", i+1, err)
		}
	}
	return k, nil
}

// NewKeyring returns a keyring of one raw 32-byte key (tests, tools).
func NewKeyring(key []byte) (*Keyring, error) {
	return ParseKeyring(base64.StdEncoding.EncodeToString(key), nil)
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("decodes to %d bytes, want 32 (generate one with: openssl rand -base64 32)", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64 (generate one with: openssl rand -base64 32)")
}

func (k *Keyring) add(s string) (string, error) {
	raw, err := decodeKey(s)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return "", err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	id := hex.EncodeToString(sum[:8])
	k.aeads[id] = aead
	return id, nil
}

// CurrentID is the id of the key that seals.
func (k *Keyring) CurrentID() string { return k.current }

// Seal encrypts secret under the current key, bound to its public key
// (the additional data), so a ciphertext copied to another row does not
// open. It returns nonce||ciphertext and the key id.
func (k *Keyring) Seal(publicKey, secret string) ([]byte, string) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(secret), []byte(publicKey)), k.current
}

// Open decrypts what Seal produced under key id.
func (k *Keyring) Open(publicKey string, sealed []byte, id string) (string, error) {
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("secret of key %s is sealed with master key %s, which is not configured (set it in SWITCHBOARD_SECRET_KEYS_PREVIOUS)", publicKey, id)
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return "", fmt.Errorf("secret of key %s: ciphertext too short", publicKey)
	}
	b, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(publicKey))
	if err != nil {
		return "", fmt.Errorf("secret of key %s does not open with master key %s: %w", publicKey, id, err)
	}
	return string(b), nil
}
