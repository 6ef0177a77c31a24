package dashboard

import (
	"errors"
	"net/http"

	"github.com/switchboard-rt/switchboard/tenants"
)

// admin lists every tenant for the operator.
func (u *UI) admin(w http.ResponseWriter, q *uiRequest) {
	u.renderAdmin(w, q, http.StatusOK, page{Notice: notice(q)})
}

type adminPage struct {
	Tenants []*tenants.Tenant
	Plans   []*tenants.Plan
}

func (u *UI) renderAdmin(w http.ResponseWriter, q *uiRequest, status int, p page) {
	ts, err := u.store.Tenants(q.ctx())
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	plans, err := u.store.Plans(q.ctx())
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	p.Title, p.Nav, p.Data = "Tenants", "admin", adminPage{Tenants: ts, Plans: plans}
	u.render(w, q, status, "admin", p)
}

// setTenantPlan moves a tenant to another plan (SetTenantPlan, audited as
// tenant.plan). Its apps' limits follow on every node within seconds.
// With billing on, the Stripe subscription follows within a billing
// check interval: stripebilling's SyncPlans notices the stored plan
// differs from the subscription's, whoever changed it.
func (u *UI) setTenantPlan(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("tenant_id")
	planID := q.r.PostForm.Get("plan_id")
	if _, err := u.store.Tenant(q.ctx(), id); err != nil {
		u.storeError(w, q, err)
		return
	}
	if _, err := u.store.Plan(q.ctx(), planID); err != nil {
		if errors.Is(err, tenants.ErrNotFound) {
			u.renderAdmin(w, q, http.StatusBadRequest, page{Field: "plan_id", Error: "Choose one of the plans listed."})
			return
		}
		u.storeError(w, q, err)
		return
	}
	if err := u.store.SetTenantPlan(q.ctx(), id, planID, q.actor()); err != nil {
		u.storeError(w, q, err)
		return
	}
	u.log.Info("dashboard tenant plan", "tenant_id", id, "plan_id", planID, "actor", q.actor())
	redirect(w, q, basePath+"/admin?done=tenant-plan")
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
