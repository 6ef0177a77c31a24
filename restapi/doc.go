// Package restapi is the Pusher HTTP API for customer backends, on echo:
// request-signature checks, per-app limits, publishing through the bus and
// channel queries over the shared channel state.
//
// It never imports edge: events leave through a publisher and channel
// facts come from the shared state, both interfaces declared here.
package restapi
