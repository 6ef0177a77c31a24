// Package protocol is the Pusher Channels wire format (protocol 7): event
// names, error and close codes, channel kinds and name rules, frame encoding
// and decoding, and every HMAC signature the protocol uses (channel
// authorization, user authentication, HTTP request signing, webhooks).
//
// It does no I/O and imports nothing else from Switchboard, so every other
// package can depend on it.
package protocol
