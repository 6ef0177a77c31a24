// Package tenants is the domain of the control plane: tenants and their
// plans, apps with their keys, settings and limits, management API tokens
// and the audit log; the Store interface that backends implement and the
// in-memory Store (the embedded default, also used by tests); the
// ChangeFeed through which stores announce changes; and the Directory
// that the edge and the API read apps through — a cache that follows the
// feed, so that no lookup on the hot path waits on a database.
//
// It imports protocol at most; backends (tenants/pgstore) live in
// subpackages, and tenants/storetest is the conformance suite every
// Store passes.
package tenants
