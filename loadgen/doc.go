// Package loadgen is the load generator behind `switchboard bench`: it
// speaks the Pusher Channels protocol (WebSockets at /app/{key}, the signed
// HTTP API at /apps/{id}/…) to any Pusher-compatible server on this host
// and measures what the server does with it — idle-socket capacity and
// memory, fan-out latency and throughput, HTTP publish cost, presence churn
// and client events.
//
// Every run is bounded in count and time, targets loopback unless told
// otherwise, prints a live line per second, a human summary and one JSON
// object per run (see Result). The load generator records its own CPU time
// next to the server's, so a figure limited by the load generator shows as
// such instead of passing for a property of the server.
//
// It imports protocol (signatures) and internal/rawsock (its sockets'
// reads and writes) and nothing else of ours: it must be able to measure
// Switchboard and its competitors alike.
package loadgen
