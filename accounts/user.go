package accounts

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Sentinel errors; pgaccounts translates backend errors into these.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict is an email already taken or, for CreateFirstOwner, a
	// user that already exists.
	ErrConflict = errors.New("already exists")
	// ErrInvalid is bad input: a malformed email, a short password, an
	// unknown role.
	ErrInvalid = errors.New("invalid")
)

// Role decides what a user may do within their tenant.
type Role string

const (
	// RoleOwner does everything, team management included.
	RoleOwner Role = "owner"
	// RoleDeveloper manages apps and sees their secrets.
	RoleDeveloper Role = "developer"
	// RoleViewer reads, never sees a secret and changes nothing.
	RoleViewer Role = "viewer"
)

// Roles lists the roles from most to least powerful.
var Roles = []Role{RoleOwner, RoleDeveloper, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleDeveloper || r == RoleViewer }

// CanWrite reports whether r may change apps and keys.
func (r Role) CanWrite() bool { return r == RoleOwner || r == RoleDeveloper }

// CanSeeSecrets reports whether r may see app secrets.
func (r Role) CanSeeSecrets() bool { return r.CanWrite() }

// CanManageTeam reports whether r may add, change and remove users.
func (r Role) CanManageTeam() bool { return r == RoleOwner }

// User is one person who signs in to the dashboard. Email is unique
// across tenants because sign-in asks for nothing else.
type User struct {
	ID           string
	TenantID     string
	Email        string // normalised: trimmed, lower case
	Role         Role
	PasswordHash string // PHC string, see HashPassword
	CreatedAt    time.Time
}

// NewUserID returns a fresh user id such as "usr_3f9a…".
func NewUserID() string { return "usr_" + randomHex(8) }

// NormalizeEmail trims and lower-cases an email so that one address is
// one account however it is typed.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateEmail checks a normalised address: one plain addr-spec, no
// display name, at most 254 bytes.
func ValidateEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 || !strings.Contains(email, "@") {
		return fmt.Errorf("%w: email: %q is not an email address", ErrInvalid, email)
	}
	return nil
}

// MinPasswordLength follows NIST SP 800-63B's floor for user-chosen
// passwords; length, not composition rules, is what resists guessing.
const MinPasswordLength = 10

// MaxPasswordLength bounds the hashing work one request can ask for.
const MaxPasswordLength = 256

// ValidatePassword checks a new password's length.
func ValidatePassword(p string) error {
	switch {
	case len(p) < MinPasswordLength:
		return fmt.Errorf("%w: password: must be at least %d characters", ErrInvalid, MinPasswordLength)
	case len(p) > MaxPasswordLength:
		return fmt.Errorf("%w: password: must be at most %d characters", ErrInvalid, MaxPasswordLength)
	}
	return nil
}

// Validate checks a user before a store keeps it.
func (u *User) Validate() error {
	if u.ID == "" || u.TenantID == "" {
		return fmt.Errorf("%w: user needs an id and a tenant", ErrInvalid)
	}
	if err := ValidateEmail(u.Email); err != nil {
		return err
	}
	if !u.Role.Valid() {
		return fmt.Errorf("%w: role: %q is not owner, developer or viewer", ErrInvalid, u.Role)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		return fmt.Errorf("%w: password hash is not an argon2id PHC string", ErrInvalid)
	}
	return nil
}

// Audit actions of team changes, written to the tenant's audit log (see
// tenants.AuditEntry) with the user id as target; the detail holds the
// email and role, never a password or its hash.
const (
	ActionUserCreate   = "user.create"
	ActionUserRole     = "user.role"
	ActionUserRemove   = "user.remove"
	ActionUserPassword = "user.password"
)
