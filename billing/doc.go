// Package billing meters usage per app (messages published and delivered,
// API requests, webhook calls, connections), moves it from each node's
// memory to shared counters, answers quota questions from that view and
// defines what the rollup into PostgreSQL and Stripe reporting read.
//
// The hot path only touches the Meter: atomic adds on a per-app counter
// found without a lock or an allocation. Everything that does I/O (the
// Flusher, Quotas.Refresh) runs in its owner's Run(ctx) loop.
//
// It imports tenants at most; backends live in subpackages
// (billing/redisusage, billing/pgusage) and billing/usagetest is the
// conformance suite every Counters implementation passes.
package billing
