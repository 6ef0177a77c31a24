package tenants

import (
	"context"
	"sort"
	"sync"
)

// Store keeps apps. The memory Store here is the embedded default; the
// PostgreSQL one lives in tenants/pgstore. Both pass tenants/storetest.
type Store interface {
	AppByID(ctx context.Context, id string) (*App, error)
	AppByKey(ctx context.Context, key string) (*App, error)
	Apps(ctx context.Context) ([]*App, error)
	// PutApp creates or replaces an app.
	PutApp(ctx context.Context, app *App) error
	// CreateAppIfAbsent adds app unless an app with its id or one of its
	// keys exists; it reports whether it added it.
	CreateAppIfAbsent(ctx context.Context, app *App) (bool, error)
	DeleteApp(ctx context.Context, id string) error
}

// MemoryStore is a Store in process memory: nothing survives a restart.
type MemoryStore struct {
	mu    sync.RWMutex
	byID  map[string]*App
	byKey map[string]*App
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]*App{}, byKey: map[string]*App{}}
}

func (s *MemoryStore) AppByID(_ context.Context, id string) (*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a, ok := s.byID[id]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}

func (s *MemoryStore) AppByKey(_ context.Context, key string) (*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a, ok := s.byKey[key]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}

func (s *MemoryStore) Apps(_ context.Context) ([]*App, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*App, 0, len(s.byID))
	for _, a := range s.byID {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *MemoryStore) PutApp(_ context.Context, app *App) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range app.Keys {
		if other, ok := s.byKey[k.Key]; ok && other.ID != app.ID {
			return ErrConflict
		}
	}
	s.removeLocked(app.ID)
	s.addLocked(app)
	return nil
}

func (s *MemoryStore) CreateAppIfAbsent(_ context.Context, app *App) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[app.ID]; ok {
		return false, nil
	}
	for _, k := range app.Keys {
		if _, ok := s.byKey[k.Key]; ok {
			return false, nil
		}
	}
	s.addLocked(app)
	return true, nil
}

func (s *MemoryStore) DeleteApp(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[id]; !ok {
		return ErrNotFound
	}
	s.removeLocked(id)
	return nil
}

func (s *MemoryStore) addLocked(app *App) {
	s.byID[app.ID] = app
	for _, k := range app.Keys {
		s.byKey[k.Key] = app
	}
}

func (s *MemoryStore) removeLocked(id string) {
	old, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	for _, k := range old.Keys {
		if s.byKey[k.Key] == old {
			delete(s.byKey, k.Key)
		}
	}
}
