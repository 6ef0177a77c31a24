package dashboard

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/switchboard-rt/switchboard/accounts"
)

type teamPage struct {
	Members []*accounts.User
	Roles   []accounts.Role
	Form    map[string]string // a rejected add form's values
}

func (u *UI) team(w http.ResponseWriter, q *uiRequest) {
	u.renderTeam(w, q, http.StatusOK, page{Notice: notice(q)}, nil)
}

func (u *UI) renderTeam(w http.ResponseWriter, q *uiRequest, status int, p page, form map[string]string) {
	members, err := u.accts.TenantUsers(q.ctx(), q.tenant.ID)
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	p.Title, p.Nav, p.Data = "Team", "team", &teamPage{Members: members, Roles: accounts.Roles, Form: form}
	u.render(w, q, status, "team", p)
}

// addMember makes a user in the owner's tenant with a password the owner
// chose and hands over; there is no mail to send an invitation with.
func (u *UI) addMember(w http.ResponseWriter, q *uiRequest) {
	email, password, err := credentials(q)
	role := accounts.Role(q.r.PostForm.Get("role"))
	form := map[string]string{"Email": email, "Role": string(role)}
	if err == nil && !role.Valid() {
		err = fmt.Errorf("%w: role: choose owner, developer or viewer", accounts.ErrInvalid)
	}
	member := &accounts.User{ID: accounts.NewUserID(), TenantID: q.tenant.ID, Email: email, Role: role, CreatedAt: q.now}
	if err == nil {
		member.PasswordHash = accounts.HashPassword(password)
		err = u.accts.CreateUser(q.ctx(), member)
	}
	switch {
	case errors.Is(err, accounts.ErrConflict):
		u.renderTeam(w, q, http.StatusBadRequest, page{Field: "email", Error: "An account with this email exists already."}, form)
	case errors.Is(err, accounts.ErrInvalid):
		p := page{}
		p.Field, p.Error, _ = formError(err)
		u.renderTeam(w, q, http.StatusBadRequest, p, form)
	case err != nil:
		u.storeError(w, q, err)
	default:
		u.record(q, q.tenant.ID, q.actor(), accounts.ActionUserCreate, member)
		redirect(w, q, basePath+"/team?done=member")
	}
}

// keepsAnOwner reports whether the tenant still has an owner once userID
// is no longer one, so that nobody can lock a team out of its settings.
func (u *UI) keepsAnOwner(q *uiRequest, userID string) (bool, error) {
	members, err := u.accts.TenantUsers(q.ctx(), q.tenant.ID)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		if m.ID != userID && m.Role == accounts.RoleOwner {
			return true, nil
		}
	}
	return false, nil
}

func (u *UI) setRole(w http.ResponseWriter, q *uiRequest) {
	id, role := q.r.PathValue("user_id"), accounts.Role(q.r.PostForm.Get("role"))
	if !role.Valid() {
		u.renderTeam(w, q, http.StatusBadRequest, page{Error: "Choose owner, developer or viewer."}, nil)
		return
	}
	if role != accounts.RoleOwner {
		ok, err := u.keepsAnOwner(q, id)
		if err != nil {
			u.storeError(w, q, err)
			return
		}
		if !ok {
			u.renderTeam(w, q, http.StatusConflict, page{Error: "The team needs an owner: make someone else owner first."}, nil)
			return
		}
	}
	if err := u.accts.SetUserRole(q.ctx(), q.tenant.ID, id, role); err != nil {
		u.storeError(w, q, err)
		return
	}
	u.record(q, q.tenant.ID, q.actor(), accounts.ActionUserRole, u.member(q, id, role))
	redirect(w, q, basePath+"/team?done=role")
}

func (u *UI) removeMember(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("user_id")
	ok, err := u.keepsAnOwner(q, id)
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	if !ok {
		u.renderTeam(w, q, http.StatusConflict, page{Error: "The team needs an owner: make someone else owner first."}, nil)
		return
	}
	gone := u.member(q, id, "")
	if err := u.accts.RemoveUser(q.ctx(), q.tenant.ID, id); err != nil {
		u.storeError(w, q, err)
		return
	}
	u.record(q, q.tenant.ID, q.actor(), accounts.ActionUserRemove, gone)
	if id == q.user.ID {
		redirect(w, q, basePath+"/sign-in")
		return
	}
	redirect(w, q, basePath+"/team?done=removed")
}

// member is the tenant's user id for the audit detail, with role set
// when given; only the id when the lookup fails, as the audit entry
// matters more than its detail.
func (u *UI) member(q *uiRequest, id string, role accounts.Role) *accounts.User {
	m := &accounts.User{ID: id, Role: role}
	members, err := u.accts.TenantUsers(q.ctx(), q.tenant.ID)
	if err != nil {
		return m
	}
	for _, x := range members {
		if x.ID == id {
			c := *x
			if role != "" {
				c.Role = role
			}
			return &c
		}
	}
	return m
}
