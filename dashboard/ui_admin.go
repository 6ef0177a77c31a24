package dashboard

import (
	"net/http"

	"github.com/switchboard-rt/switchboard/tenants"
)

// admin lists every tenant for the operator.
func (u *UI) admin(w http.ResponseWriter, q *uiRequest) {
	ts, err := u.store.Tenants(q.ctx())
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	u.render(w, q, http.StatusOK, "admin", page{Title: "Tenants", Nav: "admin", Notice: notice(q), Data: ts})
}

// setTenantStatus suspends or reactivates a tenant. The default tenant is
// the operator's own: suspending it would leave nobody able to undo it
// from here.
func (u *UI) setTenantStatus(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("tenant_id")
	status := tenants.TenantStatus(q.r.PostForm.Get("status"))
	if status != tenants.TenantActive && status != tenants.TenantSuspended {
		u.renderError(w, q, http.StatusBadRequest, "Choose active or suspended.")
		return
	}
	if id == tenants.DefaultTenantID && status == tenants.TenantSuspended {
		u.renderError(w, q, http.StatusConflict, "The default tenant is the operator's own and cannot be suspended here.")
		return
	}
	if err := u.store.SetTenantStatus(q.ctx(), id, status, q.actor()); err != nil {
		u.storeError(w, q, err)
		return
	}
	u.log.Info("dashboard tenant status", "tenant_id", id, "status", string(status), "actor", q.actor())
	redirect(w, q, basePath+"/admin?done=tenant-"+string(status))
}
