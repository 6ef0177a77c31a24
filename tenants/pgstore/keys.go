package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/tenants"
)

func (s *Store) Keys(ctx context.Context, tenantID, appID string) ([]tenants.KeyInfo, error) {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1 FROM apps WHERE id = $1 AND tenant_id = $2`, appID, tenantID).Scan(&one); err != nil {
		return nil, translate(err)
	}
	rows, err := s.pool.Query(ctx, `SELECT key, status, created_at, last_used_at, revoked_at FROM app_keys WHERE app_id = $1 ORDER BY ord`, appID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: keys: %w", err)
	}
	defer rows.Close()
	var out []tenants.KeyInfo
	for rows.Next() {
		var k tenants.KeyInfo
		var status string
		if err := rows.Scan(&k.Key, &status, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
			return nil, fmt.Errorf("pgstore: keys: %w", err)
		}
		k.Status, k.CreatedAt, k.LastUsedAt, k.RevokedAt = tenants.KeyStatus(status), k.CreatedAt.UTC(), utc(k.LastUsedAt), utc(k.RevokedAt)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *Store) CreateKey(ctx context.Context, tenantID, appID, actor string) (tenants.Key, error) {
	k := tenants.NewKey()
	err := s.inTx(ctx, "create key", func(tx pgx.Tx) error {
		if err := lockApp(ctx, tx, tenantID, appID); err != nil {
			return err
		}
		if err := s.insertKey(ctx, tx, appID, k, nil, nil); err != nil {
			return err
		}
		if err := audit(ctx, tx, tenantID, actor, tenants.ActionKeyCreate, appID, tenants.Detail(map[string]string{"key": k.Key})); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{AppIDs: []string{appID}})
	})
	if err != nil {
		return tenants.Key{}, err
	}
	return k, nil
}

func (s *Store) RevokeKey(ctx context.Context, tenantID, appID, key, actor string) error {
	return s.inTx(ctx, "revoke key", func(tx pgx.Tx) error {
		if err := lockApp(ctx, tx, tenantID, appID); err != nil {
			return err
		}
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM app_keys WHERE key = $1 AND app_id = $2`, key, appID).Scan(&status); err != nil {
			return translate(err)
		}
		if status != string(tenants.KeyActive) {
			return tenants.ErrNotFound
		}
		var active int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM app_keys WHERE app_id = $1 AND status = 'active'`, appID).Scan(&active); err != nil {
			return err
		}
		if active <= 1 {
			return tenants.ErrLastKey
		}
		if _, err := tx.Exec(ctx, `UPDATE app_keys SET status = 'revoked', revoked_at = now() WHERE key = $1`, key); err != nil {
			return err
		}
		if err := audit(ctx, tx, tenantID, actor, tenants.ActionKeyRevoke, appID, tenants.Detail(map[string]string{"key": key})); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{AppIDs: []string{appID}})
	})
}

// MarkKeysUsed writes a batch of last uses in one statement; it changes
// no app, so it announces nothing.
func (s *Store) MarkKeysUsed(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	keys := make([]string, 0, len(used))
	ats := make([]time.Time, 0, len(used))
	for k, at := range used {
		keys = append(keys, k)
		ats = append(ats, at)
	}
	_, err := s.pool.Exec(ctx, `UPDATE app_keys k SET last_used_at = u.at
		FROM unnest($1::text[], $2::timestamptz[]) AS u(key, at)
		WHERE k.key = u.key AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`, keys, ats)
	if err != nil {
		return fmt.Errorf("pgstore: mark keys used: %w", err)
	}
	return nil
}

// Reseal re-encrypts every secret not sealed with the current master key
// (after a rotation of SWITCHBOARD_SECRET_KEY) and returns how many. Keys
// of revoked rows are resealed too: no row may depend on a retired key.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	n := 0
	err := s.inTx(ctx, "reseal secrets", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT key, secret_ciphertext, secret_key_id FROM app_keys WHERE secret_key_id <> $1 FOR UPDATE`, s.keys.CurrentID())
		if err != nil {
			return err
		}
		type row struct {
			key    string
			secret string
		}
		var todo []row
		for rows.Next() {
			var key, id string
			var sealed []byte
			if err := rows.Scan(&key, &sealed, &id); err != nil {
				rows.Close()
				return err
			}
			secret, err := s.keys.Open(key, sealed, id)
			if err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, row{key, secret})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range todo {
			sealed, id := s.keys.Seal(r.key, r.secret)
			if _, err := tx.Exec(ctx, `UPDATE app_keys SET secret_ciphertext = $2, secret_key_id = $3 WHERE key = $1`, r.key, sealed, id); err != nil {
				return err
			}
		}
		n = len(todo)
		return nil
	})
	return n, err
}
