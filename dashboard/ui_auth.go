package dashboard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/tenants"
)

// home is the setup form until a first user exists, then the apps of the
// signed-in user or the sign-in form.
func (u *UI) home(w http.ResponseWriter, q *uiRequest) {
	has, err := u.accts.HasUsers(q.ctx())
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	if !has {
		u.render(w, q, http.StatusOK, "setup", page{Title: "Create the first owner"})
		return
	}
	if u.loadSession(q) {
		redirect(w, q, basePath+"/apps")
		return
	}
	redirect(w, q, basePath+"/sign-in")
}

// credentials reads and checks the email and new password of a form.
func credentials(q *uiRequest) (email, password string, err error) {
	email = accounts.NormalizeEmail(q.r.PostForm.Get("email"))
	password = q.r.PostForm.Get("password")
	if err := accounts.ValidateEmail(email); err != nil {
		return email, "", err
	}
	return email, password, accounts.ValidatePassword(password)
}

// setup creates the default tenant's first owner while no user exists.
func (u *UI) setup(w http.ResponseWriter, q *uiRequest) {
	email, password, err := credentials(q)
	p := page{Title: "Create the first owner", Data: map[string]string{"Email": email}}
	if err != nil {
		p.Field, p.Error, _ = formError(err)
		u.render(w, q, http.StatusBadRequest, "setup", p)
		return
	}
	user := &accounts.User{ID: accounts.NewUserID(), TenantID: tenants.DefaultTenantID, Email: email, Role: accounts.RoleOwner,
		PasswordHash: accounts.HashPassword(password), CreatedAt: q.now}
	if err := u.accts.CreateFirstOwner(q.ctx(), user); err != nil {
		if errors.Is(err, accounts.ErrConflict) {
			u.renderError(w, q, http.StatusConflict, "The first owner has been created already: sign in instead.")
			return
		}
		u.storeError(w, q, err)
		return
	}
	u.record(q, user.TenantID, "user:"+user.ID, accounts.ActionUserCreate, user)
	u.signedIn(w, q, user)
}

func (u *UI) signedIn(w http.ResponseWriter, q *uiRequest, user *accounts.User) {
	// A browser signing in again leaves no live session behind it: the
	// old cookie is overwritten, so nobody could end that session.
	if c, err := q.r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := u.accts.DeleteSession(q.ctx(), accounts.HashSessionID(c.Value)); err != nil {
			u.log.Warn("dropping the session a sign-in replaces", "err", err)
		}
	}
	if err := u.startSession(w, q, user); err != nil {
		u.storeError(w, q, err)
		return
	}
	redirect(w, q, basePath+"/apps")
}

func (u *UI) signInForm(w http.ResponseWriter, q *uiRequest) {
	u.render(w, q, http.StatusOK, "signin", page{Title: "Sign in", Data: u.signInData("")})
}

func (u *UI) signInData(email string) map[string]any {
	return map[string]any{"Email": email, "AllowSignUp": u.opts.AllowSignUp}
}

func (u *UI) signIn(w http.ResponseWriter, q *uiRequest) {
	email := accounts.NormalizeEmail(q.r.PostForm.Get("email"))
	password := q.r.PostForm.Get("password")
	p := page{Title: "Sign in", Data: u.signInData(email)}
	if !u.allow("sign-in\x00"+email, q.r) {
		w.Header().Set("Retry-After", "60")
		p.Error = "Too many sign-in attempts for this email. Wait a minute and try again."
		u.render(w, q, http.StatusTooManyRequests, "signin", p)
		return
	}
	user, err := u.accts.UserByEmail(q.ctx(), email)
	switch {
	case err == nil && len(password) <= accounts.MaxPasswordLength && accounts.CheckPassword(user.PasswordHash, password):
		u.log.Info("dashboard sign-in", "user_id", user.ID, "tenant_id", user.TenantID)
		u.signedIn(w, q, user)
		return
	case err == nil, errors.Is(err, accounts.ErrNotFound):
		if err != nil {
			accounts.SpendHashTime(password) // unknown emails take as long as wrong passwords
		}
		// One message for both, so the form does not tell who has an account.
		p.Error = "Wrong email or password."
		u.render(w, q, http.StatusUnauthorized, "signin", p)
	default:
		u.storeError(w, q, err)
	}
}

func (u *UI) signUpForm(w http.ResponseWriter, q *uiRequest) {
	if !u.opts.AllowSignUp {
		u.renderError(w, q, http.StatusNotFound, "Sign-up is closed on this server: ask its operator, or an owner of your team, for an account.")
		return
	}
	u.render(w, q, http.StatusOK, "signup", page{Title: "Sign up"})
}

// signUp makes a tenant on the free plan and its first owner.
func (u *UI) signUp(w http.ResponseWriter, q *uiRequest) {
	if !u.opts.AllowSignUp {
		u.renderError(w, q, http.StatusNotFound, "Sign-up is closed on this server: ask its operator, or an owner of your team, for an account.")
		return
	}
	name := strings.TrimSpace(q.r.PostForm.Get("name"))
	email, password, err := credentials(q)
	p := page{Title: "Sign up", Data: map[string]string{"Email": email, "Name": name}}
	if !u.allow("sign-up", q.r) {
		w.Header().Set("Retry-After", "60")
		p.Error = "Too many sign-ups from your address. Wait a minute and try again."
		u.render(w, q, http.StatusTooManyRequests, "signup", p)
		return
	}
	if err == nil && (name == "" || len(name) > 200) {
		p.Field, p.Error = "name", "Team name: must be 1 to 200 characters."
	} else if err != nil {
		p.Field, p.Error, _ = formError(err)
	}
	if p.Error == "" {
		// Checked first so a taken email leaves no empty tenant behind;
		// CreateUser still refuses the rare one taken in between.
		if _, err := u.accts.UserByEmail(q.ctx(), email); err == nil {
			p.Field, p.Error = "email", "An account with this email exists already: sign in instead."
		} else if !errors.Is(err, accounts.ErrNotFound) {
			u.storeError(w, q, err)
			return
		}
	}
	if p.Error != "" {
		u.render(w, q, http.StatusBadRequest, "signup", p)
		return
	}
	user := &accounts.User{ID: accounts.NewUserID(), Email: email, Role: accounts.RoleOwner, PasswordHash: accounts.HashPassword(password), CreatedAt: q.now}
	t, err := u.store.CreateTenant(q.ctx(), name, "", "user:"+user.ID)
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	user.TenantID = t.ID
	if err := u.accts.CreateUser(q.ctx(), user); err != nil {
		if errors.Is(err, accounts.ErrConflict) {
			p.Field, p.Error = "email", "An account with this email exists already: sign in instead."
			u.render(w, q, http.StatusBadRequest, "signup", p)
			return
		}
		u.storeError(w, q, err)
		return
	}
	u.record(q, t.ID, "user:"+user.ID, accounts.ActionUserCreate, user)
	u.signedIn(w, q, user)
}

func (u *UI) signOut(w http.ResponseWriter, q *uiRequest) {
	if err := u.accts.DeleteSession(q.ctx(), q.session.IDHash); err != nil {
		u.storeError(w, q, err)
		return
	}
	http.SetCookie(w, u.cookie(q.r, sessionCookie, "", -1))
	redirect(w, q, basePath+"/sign-in")
}
