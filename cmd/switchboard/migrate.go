package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/pressly/goose/v3"

	"github.com/switchboard-rt/switchboard/tenants/pgstore"
)

const migrateUsage = `usage: switchboard migrate up|down|status [--database-url URL]

  up      apply every pending migration
  down    roll back the most recent migration (one step)
  status  list migrations and whether each is applied

Never prompts; exits 0 on success and 1 with a message on failure.
`

// runMigrate is `switchboard migrate`.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, migrateUsage)
		if len(args) == 0 {
			return errors.New("migrate: missing up, down or status")
		}
		return nil
	}
	action, args := args[0], args[1:]
	var db dbConfig
	fs := flag.NewFlagSet("switchboard migrate "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db.register(fs)
	if err := parseCommandFlags(fs, args); err != nil {
		return err
	}
	if action != "up" && action != "down" && action != "status" {
		return fmt.Errorf("migrate: unknown action %q (want up, down or status)", action)
	}
	if db.DatabaseURL == "" {
		return errNoDatabase("migrate")
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	m, err := pgstore.NewMigrator(cctx, db.DatabaseURL)
	cancel()
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	defer m.Close()
	switch action {
	case "up":
		return migrateUp(ctx, m, stdout)
	case "down":
		res, err := m.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			return errors.New("migrate down: nothing to roll back (no migration is applied)")
		}
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		fmt.Fprintf(stdout, "rolled back %s (%s)\n", res.Source.Path, res.Duration.Round(1e6))
		return nil
	default:
		st, err := m.Status(ctx)
		if err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
		for _, s := range st {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
		}
		return tw.Flush()
	}
}

// migrateUp applies pending migrations and reports each; serve --migrate
// uses it too.
func migrateUp(ctx context.Context, m *pgstore.Migrator, out io.Writer) error {
	res, err := m.Up(ctx)
	for _, r := range res {
		if r.Error == nil {
			fmt.Fprintf(out, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
		}
	}
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if len(res) == 0 {
		v, _ := m.GetDBVersion(ctx)
		fmt.Fprintf(out, "database is up to date (version %d)\n", v)
	}
	return nil
}
