package dashboard

import (
	"context"
	"time"

	"github.com/switchboard-rt/switchboard/accounts"
)

// Accounts is what the web UI needs to keep its users and sessions;
// *accounts.MemoryStore and *pgaccounts.Store provide it, and both pass
// accounts/accountstest.
type Accounts interface {
	// HasUsers reports whether any user exists in any tenant: until one
	// does, /dashboard/ offers the first-owner form.
	HasUsers(ctx context.Context) (bool, error)
	// CreateFirstOwner adds u only while no user exists (ErrConflict
	// otherwise), atomically, so two first-run forms cannot both win.
	CreateFirstOwner(ctx context.Context, u *accounts.User) error
	// CreateUser adds u; an email already taken is ErrConflict.
	CreateUser(ctx context.Context, u *accounts.User) error
	UserByEmail(ctx context.Context, email string) (*accounts.User, error)
	// TenantUsers lists a tenant's users, oldest first.
	TenantUsers(ctx context.Context, tenantID string) ([]*accounts.User, error)
	// SetUserRole and RemoveUser answer ErrNotFound for another
	// tenant's user, as for an unknown one. RemoveUser ends the user's
	// sessions too.
	SetUserRole(ctx context.Context, tenantID, userID string, role accounts.Role) error
	RemoveUser(ctx context.Context, tenantID, userID string) error

	// SetPassword replaces a user's password hash and ends every session
	// of theirs but keep (the one that made the change; nil for none),
	// so a stolen session does not outlive a password change.
	SetPassword(ctx context.Context, userID, hash string, keep []byte) error

	CreateSession(ctx context.Context, s *accounts.Session) error
	// Session finds a session by the hash of its id, with its user; an
	// unknown one or one expired at now is ErrNotFound.
	Session(ctx context.Context, idHash []byte, now time.Time) (*accounts.Session, *accounts.User, error)
	DeleteSession(ctx context.Context, idHash []byte) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}
