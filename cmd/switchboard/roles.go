package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// role is one of the parts of Switchboard a node can run
// (docs/architecture.md, Roles). Every node serves /healthz, /readyz and
// /metrics whatever its roles.
type role string

const (
	// roleEdge terminates end-user connections: WebSockets at /app/{key},
	// pusher-js's HTTP fallbacks and SSE.
	roleEdge role = "edge"
	// roleAPI serves the Pusher HTTP API at /apps/{app_id}/….
	roleAPI role = "api"
	// roleControl serves the management API (/api/v1) and the dashboard,
	// and runs the control plane's background work: webhook delivery
	// workers and jobs that must not run once per edge node (sweeps,
	// rollups, billing).
	roleControl role = "control"
)

// allRoles in the order they are printed.
var allRoles = []role{roleEdge, roleAPI, roleControl}

const defaultRoles = "edge,api,control"

// roles is the set of roles a node runs (--roles).
type roles map[role]bool

// parseRoles reads a comma-separated list of roles; errors name --roles.
func parseRoles(s string) (roles, error) {
	rs := roles{}
	for name := range strings.SplitSeq(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		r := role(name)
		if r != roleEdge && r != roleAPI && r != roleControl {
			return nil, fmt.Errorf("--roles: %q is not a role; give one or more of edge, api, control (comma-separated)", name)
		}
		rs[r] = true
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("--roles: empty; give one or more of edge, api, control (comma-separated; default %s)", defaultRoles)
	}
	return rs, nil
}

func (rs roles) has(r role) bool { return rs[r] }

// all reports whether the node runs every role (the default, one process
// is the whole service).
func (rs roles) all() bool {
	for _, r := range allRoles {
		if !rs[r] {
			return false
		}
	}
	return true
}

// String lists the roles in canonical order, as --roles takes them.
func (rs roles) String() string {
	var names []string
	for _, r := range allRoles {
		if rs[r] {
			names = append(names, string(r))
		}
	}
	return strings.Join(names, ",")
}

// roleMux mounts a role's handlers only on nodes that run the role; the
// others answer those paths 404 with a JSON error naming the role, so a
// misrouting load balancer is plain to see.
type roleMux struct {
	*http.ServeMux
	roles roles
}

// handle mounts the handler that build makes (only called when the node
// runs r) on each pattern, or the refusal when it does not.
func (m roleMux) handle(r role, build func() http.Handler, patterns ...string) {
	var h http.Handler
	if m.roles.has(r) {
		h = build()
	} else {
		h = notServed(r, m.roles)
	}
	for _, p := range patterns {
		m.Handle(p, h)
	}
}

// notServed answers requests for a role this node does not run.
func notServed(r role, rs roles) http.Handler {
	msg := fmt.Sprintf("this path is served by nodes with the %s role; this node runs --roles %s", r, rs)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "role_not_served", msg)
	})
}

// writeError answers the HTTP JSON error of the architecture's contract.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code})
}

// warnRoleSplit warns when a node runs only some roles without the shared
// backends: the other roles then run in other processes that see none of
// this one's apps, channels or webhook queue.
func warnRoleSplit(cfg serveConfig, log *slog.Logger) {
	if cfg.Roles.all() {
		return
	}
	var missing []string
	if cfg.RedisURL == "" {
		missing = append(missing, "--redis-url (bus, channel state, webhook queue)")
	}
	if cfg.DB.DatabaseURL == "" {
		missing = append(missing, "--database-url (tenants, apps, keys)")
	}
	if len(missing) > 0 {
		log.Warn("--roles "+cfg.Roles.String()+" splits the roles across processes, but state in memory is not shared between processes: set "+
			strings.Join(missing, " and "), "roles", cfg.Roles.String())
	}
}
