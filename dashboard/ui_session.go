package dashboard

import (
	"errors"
	"net"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/accounts"
)

// Sessions, their cookies, the pre-session CSRF token and the limiters
// of sign-in and sign-up.

// loadSession finds the request's live session, its user and tenant.
func (u *UI) loadSession(q *uiRequest) bool {
	c, err := q.r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return false
	}
	s, user, err := u.accts.Session(q.ctx(), accounts.HashSessionID(c.Value), q.now)
	if err != nil {
		if !errors.Is(err, accounts.ErrNotFound) {
			u.log.Error("session lookup failed", "err", err)
		}
		return false
	}
	t, err := u.store.Tenant(q.ctx(), user.TenantID)
	if err != nil {
		u.log.Error("tenant of a signed-in user", "user_id", user.ID, "err", err)
		return false
	}
	q.session, q.user, q.tenant = s, user, t
	return true
}

// preCSRF returns the pre-session form token, setting its cookie first
// when the browser has none.
func (u *UI) preCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preCSRFCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	if r.Method == http.MethodPost {
		return "" // a POST without the cookie never matches
	}
	tok := accounts.NewCSRFToken()
	http.SetCookie(w, u.cookie(r, preCSRFCookie, tok, 0))
	return tok
}

func (u *UI) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: basePath + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: u.opts.SecureCookies || r.TLS != nil,
	}
}

// startSession signs user in: a new session and its cookie.
func (u *UI) startSession(w http.ResponseWriter, q *uiRequest, user *accounts.User) error {
	id, hash := accounts.NewSessionID()
	s := &accounts.Session{IDHash: hash, UserID: user.ID, CSRF: accounts.NewCSRFToken(), CreatedAt: q.now, ExpiresAt: q.now.Add(u.opts.SessionTTL)}
	if err := u.accts.CreateSession(q.ctx(), s); err != nil {
		return err
	}
	// Sign-ins are rare; sweeping expired sessions here keeps the table
	// small without a job of its own.
	if _, err := u.accts.DeleteExpiredSessions(q.ctx(), q.now); err != nil {
		u.log.Warn("dropping expired sessions", "err", err)
	}
	http.SetCookie(w, u.cookie(q.r, sessionCookie, id, int(u.opts.SessionTTL/time.Second)))
	return nil
}

// allow takes a token from the limiter of what (an action and, for
// sign-in, the email) and the client address. Sign-in keys include the
// address so that an attacker cannot lock a user out from elsewhere, and
// the email so that one office behind a NAT does not share one budget;
// sign-up, which makes a tenant each time, is limited per address.
func (u *UI) allow(what string, r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	key := what + "\x00" + host
	u.limMu.Lock()
	defer u.limMu.Unlock()
	lim, ok := u.limiters[key]
	if !ok {
		if len(u.limiters) >= 10000 {
			u.sweepLimiters()
		}
		lim = rate.NewLimiter(rate.Every(u.opts.SignInEvery), u.opts.SignInBurst)
		u.limiters[key] = lim
	}
	return lim.AllowN(u.opts.Now(), 1)
}

// sweepLimiters forgets limiters that have refilled: they would allow as
// much as a new one, so dropping them changes nothing but memory.
func (u *UI) sweepLimiters() {
	now := u.opts.Now()
	for k, l := range u.limiters {
		if l.TokensAt(now) >= float64(u.opts.SignInBurst) {
			delete(u.limiters, k)
		}
	}
}
