package protocol

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Sign returns the lowercase hex HMAC-SHA256 of msg keyed with secret: the
// one signature primitive of the protocol.
func Sign(secret string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// ValidSignature reports, in constant time, whether sig is the hex
// HMAC-SHA256 of msg under secret. Hex case is ignored.
func ValidSignature(secret string, msg []byte, sig string) bool {
	var got [sha256.Size]byte
	if len(sig) != hex.EncodedLen(sha256.Size) {
		return false
	}
	if _, err := hex.Decode(got[:], []byte(sig)); err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(msg)
	return hmac.Equal(m.Sum(nil), got[:])
}

// ChannelAuthString is what an app's auth endpoint signs to let socketID
// subscribe to channel: "socket:channel", plus ":channel_data" for presence.
func ChannelAuthString(socketID, channel, channelData string) string {
	if channelData == "" {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + channelData
}

// UserAuthString is what an app's user-auth endpoint signs for pusher:signin.
func UserAuthString(socketID, userData string) string {
	return socketID + "::user::" + userData
}

// SplitAuth splits an "app_key:signature" auth token at its first colon.
func SplitAuth(auth string) (key, sig string, ok bool) {
	i := strings.IndexByte(auth, ':')
	if i <= 0 || i == len(auth)-1 {
		return "", "", false
	}
	return auth[:i], auth[i+1:], true
}

// ChannelAuth returns the auth token an app's backend hands its client for a
// channel subscription. Used by tests and the load generator.
func ChannelAuth(key, secret, socketID, channel, channelData string) string {
	return key + ":" + Sign(secret, []byte(ChannelAuthString(socketID, channel, channelData)))
}

// UserAuth returns the auth token for a pusher:signin.
func UserAuth(key, secret, socketID, userData string) string {
	return key + ":" + Sign(secret, []byte(UserAuthString(socketID, userData)))
}

// Errors from request signature checks; the message says which check failed
// without revealing a secret.
var (
	ErrAuthKeyMissing       = errors.New("auth_key is missing")
	ErrAuthSignatureMissing = errors.New("auth_signature is missing")
	ErrAuthVersion          = errors.New("auth_version must be 1.0")
	ErrAuthTimestamp        = errors.New("auth_timestamp is missing or not an integer")
	ErrBodyMD5              = errors.New("body_md5 does not match the MD5 of the request body")
)

// RequestStringToSign builds the HTTP API's string to sign: method, path and
// every query parameter but auth_signature, keys lower-cased and sorted,
// values URL-decoded, joined by newlines.
func RequestStringToSign(method, path string, query url.Values) string {
	// Visit names in a fixed order so that names differing only in case
	// (which the API refuses anyway) still give one defined result.
	names := make([]string, 0, len(query))
	for k := range query {
		names = append(names, k)
	}
	sort.Strings(names)
	keys := make([]string, 0, len(query))
	lower := make(map[string]string, len(query))
	for _, k := range names {
		v := query[k]
		lk := strings.ToLower(k)
		if lk == "auth_signature" || len(v) == 0 {
			continue
		}
		if _, dup := lower[lk]; !dup {
			keys = append(keys, lk)
		}
		lower[lk] = v[0]
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(len(method) + len(path) + 16*len(keys))
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(lower[k])
	}
	return b.String()
}

// BodyMD5 returns the lowercase hex MD5 of an HTTP request body.
func BodyMD5(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// SignRequest adds auth_key, auth_timestamp, auth_version, body_md5 (for a
// non-empty body) and auth_signature to query, as the official server SDKs
// do. Used by tests and the load generator.
func SignRequest(key, secret, method, path string, query url.Values, body []byte, unix int64) {
	query.Set("auth_key", key)
	query.Set("auth_timestamp", strconv.FormatInt(unix, 10))
	query.Set("auth_version", "1.0")
	if len(body) > 0 {
		query.Set("body_md5", BodyMD5(body))
	}
	query.Del("auth_signature")
	query.Set("auth_signature", Sign(secret, []byte(RequestStringToSign(method, path, query))))
}

// WebhookSignature signs a webhook body exactly as sent.
func WebhookSignature(secret string, body []byte) string { return Sign(secret, body) }
