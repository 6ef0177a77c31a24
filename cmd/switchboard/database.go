package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
	"golang.org/x/sync/errgroup"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/accounts/pgaccounts"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore"
)

// dbConfig is what every command that works on the control-plane
// database shares: where it is and the master key of its secrets.
type dbConfig struct {
	DatabaseURL        string
	SecretKey          string
	SecretKeysPrevious string
}

// register adds --database-url, --secret-key and --secret-keys-previous
// (SWITCHBOARD_DATABASE_URL, SWITCHBOARD_SECRET_KEY,
// SWITCHBOARD_SECRET_KEYS_PREVIOUS).
func (c *dbConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL of the control plane (postgres://user:pass@host:5432/db); without it serve keeps apps in memory")
	fs.StringVar(&c.SecretKey, "secret-key", "", "base64 of the 32-byte key that encrypts app secrets in the database; set it in SWITCHBOARD_SECRET_KEY rather than on the command line")
	fs.StringVar(&c.SecretKeysPrevious, "secret-keys-previous", "", "comma-separated earlier secret keys, still accepted for decryption while `switchboard secrets rotate` re-encrypts")
}

// kind names the store for the start-up log.
func (c dbConfig) kind() string {
	if c.DatabaseURL == "" {
		return "memory"
	}
	return "postgres"
}

const secretKeyHelp = "generate one with `openssl rand -base64 32`, keep it outside the database, and give it to every node"

// keyring parses the master keys; its errors name SWITCHBOARD_SECRET_KEY.
func (c dbConfig) keyring() (*pgstore.Keyring, error) {
	var prev []string
	for p := range strings.SplitSeq(c.SecretKeysPrevious, ",") {
		if p = strings.TrimSpace(p); p != "" {
			prev = append(prev, p)
		}
	}
	k, err := pgstore.ParseKeyring(c.SecretKey, prev)
	switch {
	case errors.Is(err, pgstore.ErrNoSecretKey):
		return nil, fmt.Errorf("SWITCHBOARD_SECRET_KEY is not set: with --database-url, app secrets are stored encrypted with it (%s)", secretKeyHelp)
	case err != nil && strings.HasPrefix(err.Error(), "previous"):
		return nil, fmt.Errorf("SWITCHBOARD_SECRET_KEYS_PREVIOUS: %w", err)
	case err != nil:
		return nil, fmt.Errorf("SWITCHBOARD_SECRET_KEY: %s (%s)", strings.TrimPrefix(err.Error(), "current key: "), secretKeyHelp)
	}
	return k, nil
}

// errNoDatabase explains a command that needs --database-url.
func errNoDatabase(cmd string) error {
	return fmt.Errorf("%s needs --database-url (or SWITCHBOARD_DATABASE_URL): it works on the PostgreSQL control plane; "+
		"without a database, apps are configured with --apps-file instead", cmd)
}

// connectTimeout bounds how long a command waits for an unreachable
// database before it gives up with a clear message.
const connectTimeout = 15 * time.Second

// openStore opens the control-plane store for a CLI command.
func openStore(ctx context.Context, cmd string, c dbConfig) (*pgstore.Store, error) {
	if c.DatabaseURL == "" {
		return nil, errNoDatabase(cmd)
	}
	keys, err := c.keyring()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	s, err := pgstore.Open(cctx, c.DatabaseURL, keys)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	return s, nil
}

// parseCommandFlags parses a subcommand's flags with the SWITCHBOARD_*
// environment behind them, as serve does.
func parseCommandFlags(fs *flag.FlagSet, args []string) error {
	err := ff.Parse(fs, args, ff.WithEnvVarPrefix("SWITCHBOARD"))
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// controlPlane is the store serve runs on: PostgreSQL with
// --database-url, else memory; either is also the change feed.
type controlPlane struct {
	store tenants.Store
	feed  tenants.ChangeFeed
	dir   *tenants.Directory
	close func()
	log   *slog.Logger
	// healthy reports whether the store answers (always, in memory).
	healthy func(ctx context.Context) bool

	// accounts keeps the dashboard's users and sessions, beside the store.
	accounts dashboard.Accounts
}

// openControlPlane opens the store (applying migrations first with
// --migrate). Every failure — no or bad SWITCHBOARD_SECRET_KEY, an
// unreachable database, a schema not migrated — comes before anything
// listens, so start-up fails with nothing half started.
func openControlPlane(ctx context.Context, cfg serveConfig, log *slog.Logger) (*controlPlane, error) {
	if cfg.DB.DatabaseURL == "" {
		mem := tenants.NewMemoryStore()
		return &controlPlane{store: mem, accounts: accounts.NewMemoryStore(), feed: mem, dir: tenants.NewDirectory(mem, 0), close: func() {}, log: log,
			healthy: func(context.Context) bool { return true }}, nil
	}
	keys, err := cfg.DB.keyring()
	if err != nil {
		return nil, err
	}
	where := cfg.DB.DatabaseURL
	if u, err := url.Parse(where); err == nil {
		where = u.Redacted()
	}
	if cfg.Migrate {
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		m, err := pgstore.NewMigrator(cctx, cfg.DB.DatabaseURL)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("--database-url: %w", err)
		}
		res, err := m.Up(ctx)
		_ = m.Close()
		for _, r := range res {
			if r.Error == nil {
				log.Info("migration applied", "file", r.Source.Path, "duration", r.Duration)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("--migrate: %w", err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	s, err := pgstore.Open(cctx, cfg.DB.DatabaseURL, keys)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	log.Info("control plane on PostgreSQL", "database", where, "app_cache_ttl", cfg.AppCacheTTL, "secret_key_id", keys.CurrentID())
	return &controlPlane{store: s, accounts: pgaccounts.New(s.Pool()), feed: s, dir: tenants.NewDirectory(s, cfg.AppCacheTTL), close: s.Close, log: log,
		healthy: func(ctx context.Context) bool { return s.Pool().Ping(ctx) == nil }}, nil
}

// run follows the change feed (dropping cached apps and closing the
// sockets a change cuts off) and flushes key use, until ctx ends.
func (cp *controlPlane) run(ctx context.Context, g *errgroup.Group, node *edge.Server) {
	cp.dir.OnChange(func(ch tenants.Change) { node.Revalidate(ctx, ch) })
	g.Go(func() error { cp.dir.Follow(ctx, cp.feed, cp.log); return nil })
	g.Go(func() error { cp.dir.RunKeyUsage(ctx, 0, cp.log); return nil })
}
