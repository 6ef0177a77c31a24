package accounts

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// MemoryStore keeps users and sessions in the process: the embedded
// default, where nothing survives a restart anyway.
type MemoryStore struct {
	mu       sync.Mutex
	users    map[string]*User // by id
	byEmail  map[string]string
	sessions map[string]*Session // by string(IDHash)
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{users: map[string]*User{}, byEmail: map[string]string{}, sessions: map[string]*Session{}}
}

// HasUsers reports whether any user exists, in any tenant.
func (s *MemoryStore) HasUsers(context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users) > 0, nil
}

// CreateFirstOwner adds u only while no user exists at all; otherwise
// ErrConflict. Checking and adding under one lock lets two first-run
// forms race safely.
func (s *MemoryStore) CreateFirstOwner(_ context.Context, u *User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.users) > 0 {
		return fmt.Errorf("%w: the first user exists already", ErrConflict)
	}
	s.add(u)
	return nil
}

// CreateUser adds u; an email already taken is ErrConflict.
func (s *MemoryStore) CreateUser(_ context.Context, u *User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byEmail[u.Email]; ok {
		return fmt.Errorf("%w: email %s", ErrConflict, u.Email)
	}
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("%w: user %s", ErrConflict, u.ID)
	}
	s.add(u)
	return nil
}

func (s *MemoryStore) add(u *User) {
	c := *u
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now().UTC()
	}
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it
	s.users[c.ID] = &c
	s.byEmail[c.Email] = c.ID
}

// UserByEmail finds a user by normalised email.
func (s *MemoryStore) UserByEmail(_ context.Context, email string) (*User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byEmail[email]
	if !ok {
		return nil, ErrNotFound
	}
	c := *s.users[id]
	return &c, nil
}

// TenantUsers lists a tenant's users, oldest first.
func (s *MemoryStore) TenantUsers(_ context.Context, tenantID string) ([]*User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*User
	for _, u := range s.users {
		if u.TenantID == tenantID {
			c := *u
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// SetUserRole changes a user's role; a user of another tenant is
// ErrNotFound.
func (s *MemoryStore) SetUserRole(_ context.Context, tenantID, userID string, role Role) error {
	if !role.Valid() {
		return fmt.Errorf("%w: role: %q is not owner, developer or viewer", ErrInvalid, role)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok || u.TenantID != tenantID {
		return ErrNotFound
	}
	c := *u
	c.Role = role
	s.users[userID] = &c
	return nil
}

// RemoveUser deletes a user of the tenant and every session of theirs.
func (s *MemoryStore) RemoveUser(_ context.Context, tenantID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok || u.TenantID != tenantID {
		return ErrNotFound
	}
	delete(s.users, userID)
	delete(s.byEmail, u.Email)
	for k, ss := range s.sessions {
		if ss.UserID == userID {
			delete(s.sessions, k)
		}
	}
	return nil
}

// CreateSession keeps a new session of an existing user.
func (s *MemoryStore) CreateSession(_ context.Context, ss *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[ss.UserID]; !ok {
		return ErrNotFound
	}
	c := *ss
	c.IDHash = bytes.Clone(ss.IDHash)
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Microsecond)
	c.ExpiresAt = c.ExpiresAt.UTC().Truncate(time.Microsecond)
	s.sessions[string(c.IDHash)] = &c
	return nil
}

// Session finds a session by the hash of its id, with its user; one
// expired at now is ErrNotFound.
func (s *MemoryStore) Session(_ context.Context, idHash []byte, now time.Time) (*Session, *User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[string(idHash)]
	if !ok || !now.Before(ss.ExpiresAt) {
		return nil, nil, ErrNotFound
	}
	u, ok := s.users[ss.UserID]
	if !ok {
		return nil, nil, ErrNotFound
	}
	cs, cu := *ss, *u
	return &cs, &cu, nil
}

// DeleteSession ends a session; an unknown one is no error, so signing
// out twice is harmless.
func (s *MemoryStore) DeleteSession(_ context.Context, idHash []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, string(idHash))
	return nil
}

// DeleteExpiredSessions drops sessions expired at now and says how many.
func (s *MemoryStore) DeleteExpiredSessions(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, ss := range s.sessions {
		if !now.Before(ss.ExpiresAt) {
			delete(s.sessions, k)
			n++
		}
	}
	return n, nil
}

// SetPassword replaces a user's hash and ends their other sessions.
func (s *MemoryStore) SetPassword(_ context.Context, userID, hash string, keep []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return ErrNotFound
	}
	c := *u
	c.PasswordHash = hash
	if err := c.Validate(); err != nil {
		return err
	}
	s.users[userID] = &c
	for k, ss := range s.sessions {
		if ss.UserID == userID && !bytes.Equal(ss.IDHash, keep) {
			delete(s.sessions, k)
		}
	}
	return nil
}
