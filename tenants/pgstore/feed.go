package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/tenants"
)

// feedPing is how long Watch waits for a notification before it checks
// the connection is alive: a half-open TCP connection would otherwise
// hide a broken feed until the kernel gives up.
const feedPing = 15 * time.Second

// Watch implements tenants.ChangeFeed on its own connection (not the
// pool's): LISTEN, then deliver each notification. The first change it
// delivers is Change{All: true}, which covers whatever was committed
// before LISTEN took effect. It returns an error when the connection
// breaks; tenants.Directory.Follow then drops its cache and calls Watch
// again with backoff.
func (s *Store) Watch(ctx context.Context, f func(tenants.Change)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("pgstore: feed: connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
		return fmt.Errorf("pgstore: feed: listen: %w", err)
	}
	f(tenants.Change{All: true})
	for {
		wctx, cancel := context.WithTimeout(ctx, feedPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) || (err != nil && wctx.Err() != nil):
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("pgstore: feed: %w", err)
			}
			continue
		case err != nil:
			return fmt.Errorf("pgstore: feed: %w", err)
		}
		var c tenants.Change
		if json.Unmarshal([]byte(n.Payload), &c) != nil {
			c = tenants.Change{All: true} // unreadable: be safe
		}
		f(c)
	}
}
