// Package tenants is the domain of the control plane: tenants, apps, their
// keys and limits, the Store interface that backends implement, an
// in-memory Store for the embedded default and tests, and the Directory
// that the edge and the API read apps through.
//
// It imports protocol at most; backends live in subpackages.
package tenants
