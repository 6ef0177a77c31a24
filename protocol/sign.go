package protocol

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	var want [sha256.Size]byte
	if !decodeHex(want[:], sig) {
		return false
	}
	m := getMAC(secret)
	defer m.release()
	m.h.Write(msg)
	return hmac.Equal(m.h.Sum(m.sum[:0]), want[:])
}

// ValidParamsSignature reports, in constant time, whether sig is the
// signature of the request method, path and query (RequestStringToSign's
// text), built in a reused buffer with a pooled keyed HMAC: the HTTP API
// checks one on every request, without allocating.
func ValidParamsSignature(secret, method, path string, query []Param, sig string) bool {
	var want [sha256.Size]byte
	if !decodeHex(want[:], sig) {
		return false
	}
	m := getMAC(secret)
	defer m.release()
	m.buf = AppendParamsStringToSign(m.buf[:0], method, path, query)
	m.h.Write(m.buf)
	return hmac.Equal(m.h.Sum(m.sum[:0]), want[:])
}

// decodeHex decodes a hex string of exactly len(dst) bytes, either case.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// A keyed HMAC costs two SHA-256 blocks and several allocations to set up;
// the API and the edge check signatures under a handful of secrets all day,
// so each secret keeps a pool of keyed states that Reset rewinds cheaply.
type mac struct {
	h    hash.Hash
	pool *sync.Pool
	sum  [sha256.Size]byte
	buf  []byte
}

func (m *mac) release() {
	m.h.Reset()
	if cap(m.buf) > 4096 {
		m.buf = nil // one huge query must not stay pinned
	}
	m.pool.Put(m)
}

var macs struct {
	sync.RWMutex
	pools map[string]*sync.Pool
}

// maxMACSecrets bounds the pools kept: past it (secrets rotated many times
// over a long run) they are dropped and rebuilt on demand.
const maxMACSecrets = 4096

func getMAC(secret string) *mac {
	macs.RLock()
	p := macs.pools[secret]
	macs.RUnlock()
	if p == nil {
		p = newMACPool(secret)
	}
	return p.Get().(*mac)
}

func newMACPool(secret string) *sync.Pool {
	macs.Lock()
	defer macs.Unlock()
	if p := macs.pools[secret]; p != nil {
		return p
	}
	if macs.pools == nil || len(macs.pools) >= maxMACSecrets {
		macs.pools = make(map[string]*sync.Pool)
	}
	p := &sync.Pool{}
	key := []byte(secret)
	p.New = func() any { return &mac{h: hmac.New(sha256.New, key), pool: p} }
	macs.pools[secret] = p
	return p
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
// values URL-decoded, joined by newlines. Names that differ only in case
// (which the API refuses anyway) give one defined result: the value of
// the greatest of them in byte order.
func RequestStringToSign(method, path string, query url.Values) string {
	return string(appendStringToSign(nil, method, path, ParamsOf(query)))
}

// Param is one query parameter.
type Param struct{ Name, Value string }

// ParamsOf lists a url.Values' parameters, the first value of each.
func ParamsOf(query url.Values) []Param {
	params := make([]Param, 0, len(query))
	for k, v := range query {
		if len(v) > 0 {
			params = append(params, Param{k, v[0]})
		}
	}
	return params
}

// AppendParamsStringToSign appends RequestStringToSign's text for a query
// given as a list, which it does not modify.
func AppendParamsStringToSign(dst []byte, method, path string, query []Param) []byte {
	var stack [16]Param
	return appendStringToSign(dst, method, path, append(stack[:0], query...))
}

// appendStringToSign sorts params in place and appends the text.
func appendStringToSign(dst []byte, method, path string, params []Param) []byte {
	type named struct {
		lower string
		Param
	}
	var stack [16]named
	sorted := stack[:0]
	for _, p := range params {
		lk := p.Name
		if hasUpper(lk) {
			lk = strings.ToLower(lk)
		}
		if lk != "auth_signature" {
			sorted = append(sorted, named{lk, p})
		}
	}
	slices.SortFunc(sorted, func(a, b named) int {
		if c := strings.Compare(a.lower, b.lower); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	dst = append(dst, strings.ToUpper(method)...) // no copy when already upper case
	dst = append(dst, '\n')
	dst = append(dst, path...)
	dst = append(dst, '\n')
	first := true
	for i, p := range sorted {
		if i+1 < len(sorted) && sorted[i+1].lower == p.lower {
			continue // the last of equal lower-cased names wins
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, p.lower...)
		dst = append(dst, '=')
		dst = append(dst, p.Value...)
	}
	return dst
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// BodyMD5 returns the lowercase hex MD5 of an HTTP request body.
func BodyMD5(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// ValidBodyMD5 reports, in constant time, whether got is the hex MD5 of
// body, in either case.
func ValidBodyMD5(body []byte, got string) bool {
	var want [md5.Size]byte
	if !decodeHex(want[:], got) {
		return false
	}
	sum := md5.Sum(body)
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
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
