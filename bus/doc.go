// Package bus carries events from publishers (the HTTP API, client events)
// to the nodes that hold subscribers, and keeps the channel state that
// every node shares: subscription counts, presence members, signed-in
// users and cache-channel events.
//
// The memory implementations here are the embedded default (one node);
// bus/redisbus implements the same interfaces for many nodes. Both pass the
// conformance suite in bus/bustest. It imports protocol at most.
package bus
