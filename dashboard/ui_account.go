package dashboard

import (
	"net/http"

	"github.com/switchboard-rt/switchboard/accounts"
)

func (u *UI) account(w http.ResponseWriter, q *uiRequest) {
	u.render(w, q, http.StatusOK, "account", page{Title: "Your account", Nav: "account", Notice: notice(q)})
}

// changePassword needs the current password, so a session left open on
// a shared machine cannot take the account over, and ends every other
// session of the user.
func (u *UI) changePassword(w http.ResponseWriter, q *uiRequest) {
	current, next := q.r.PostForm.Get("current"), q.r.PostForm.Get("password")
	p := page{Title: "Your account", Nav: "account"}
	if !u.allow("password\x00"+q.user.ID, q.r) {
		w.Header().Set("Retry-After", "60")
		p.Error = "Too many attempts. Wait a minute and try again."
		u.render(w, q, http.StatusTooManyRequests, "account", p)
		return
	}
	if len(current) > accounts.MaxPasswordLength || !accounts.CheckPassword(q.user.PasswordHash, current) {
		p.Field, p.Error = "current", "The current password is wrong."
		u.render(w, q, http.StatusBadRequest, "account", p)
		return
	}
	if err := accounts.ValidatePassword(next); err != nil {
		p.Field, p.Error, _ = formError(err)
		u.render(w, q, http.StatusBadRequest, "account", p)
		return
	}
	if err := u.accts.SetPassword(q.ctx(), q.user.ID, accounts.HashPassword(next), q.session.IDHash); err != nil {
		u.storeError(w, q, err)
		return
	}
	u.record(q, q.tenant.ID, q.actor(), accounts.ActionUserPassword, &accounts.User{ID: q.user.ID, Email: q.user.Email, Role: q.user.Role})
	redirect(w, q, basePath+"/account?done=password")
}
