package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore"
)

// The operator commands on the control-plane database: `switchboard
// tenants …`, `switchboard apps …` and `switchboard secrets rotate`.
// Credentials are printed once, when they are made; the database keeps
// only sealed secrets and token hashes.

const tenantsUsage = `usage: switchboard tenants <command> --database-url URL [flags]

  create --name N [--plan P]        create a tenant (plan "free" by default) and
                                    print its id and a management API token, once
  list                              list tenants
  suspend --tenant T                its apps act as disabled (4003 / 403)
  resume --tenant T                 active again
  set-plan --tenant T --plan P      move a tenant to another plan
  plans                             list plans and their limits
`

const appsUsage = `usage: switchboard apps <command> --database-url URL [flags]

  create --tenant T --name N        create an app; prints its id, key and secret once
  list [--tenant T]                 list apps (every tenant's without --tenant)
  rotate-key --app A [--revoke-old] add a key and print it with its secret once;
                                    --revoke-old revokes the app's other keys
  revoke-key --app A --key K        revoke one key (sockets using it are closed with 4001)
  keys --app A                      list an app's keys: status, created, last used
                                    (by a socket or an HTTP API call, to the half minute)
  disable --app A                   disable an app (its sockets are closed with 4003)
  enable --app A                    enable it again
`

const secretsUsage = `usage: switchboard secrets rotate --database-url URL

  rotate   re-encrypt every app secret with SWITCHBOARD_SECRET_KEY; start every
           node with the new key in SWITCHBOARD_SECRET_KEY and the old one in
           SWITCHBOARD_SECRET_KEYS_PREVIOUS, run this, then drop the old key.
`

// command is one subcommand: its flags and what it does with the store.
type command struct {
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, s *pgstore.Store, out io.Writer) error
}

// runGroup parses `switchboard <group> <sub> [flags]` and runs sub.
func runGroup(ctx context.Context, group, usage string, args []string, stdout, stderr io.Writer, cmds map[string]func() command) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return fmt.Errorf("%s: missing command", group)
		}
		return nil
	}
	mk, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("%s: unknown command %q\n%s", group, args[0], usage)
	}
	name := group + " " + args[0]
	c := mk()
	var db dbConfig
	fs := flag.NewFlagSet("switchboard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db.register(fs)
	if c.flags != nil {
		c.flags(fs)
	}
	if err := parseCommandFlags(fs, args[1:]); err != nil {
		return err
	}
	s, err := openStore(ctx, name, db)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := c.run(ctx, s, stdout); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func required(flagName, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("--%s is required", flagName)
	}
	return nil
}

func runTenants(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "tenants", tenantsUsage, args, stdout, stderr, map[string]func() command{
		"create": func() command {
			var name, plan string
			return command{
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&name, "name", "", "tenant name")
					fs.StringVar(&plan, "plan", "", "plan id (default free; see `switchboard tenants plans`)")
				},
				run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
					if err := required("name", name); err != nil {
						return err
					}
					t, err := s.CreateTenant(ctx, name, plan, tenants.ActorCLI)
					if err != nil {
						return err
					}
					_, token, err := s.CreateToken(ctx, t.ID, "created by the CLI", tenants.ActorCLI)
					if err != nil {
						return fmt.Errorf("tenant %s created, but its token not: %w", t.ID, err)
					}
					fmt.Fprintf(out, "tenant_id: %s\nname: %s\nplan: %s\napi_token: %s\n", t.ID, t.Name, t.PlanID, token)
					fmt.Fprintln(out, "# the token is shown only now: store it (the database keeps only its hash)")
					return nil
				},
			}
		},
		"list": func() command {
			return command{run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
				ts, err := s.Tenants(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tPLAN\tCREATED")
				for _, t := range ts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Status, t.PlanID, t.CreatedAt.Format("2006-01-02 15:04Z"))
				}
				return tw.Flush()
			}}
		},
		"suspend":  func() command { return tenantStatus(tenants.TenantSuspended) },
		"resume":   func() command { return tenantStatus(tenants.TenantActive) },
		"set-plan": tenantPlan,
		"plans": func() command {
			return command{run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
				ps, err := s.Plans(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tAPPS\tCONNECTIONS/APP\tMESSAGES/DAY\tPRESENCE MEMBERS\tPAYLOAD KB\tHISTORY EVENTS\tHISTORY AGE S")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, limit(int64(p.MaxApps)), limit(int64(p.MaxConnections)),
						limit(p.MaxMessagesPerDay), limit(int64(p.MaxPresenceMembers)), limit(int64(p.MaxPayloadKB)),
						limit(int64(p.MaxHistoryEvents)), limit(int64(p.MaxHistoryAgeSeconds)))
				}
				return tw.Flush()
			}}
		},
	})
}

func limit(v int64) string {
	if v == tenants.Unlimited {
		return "unlimited"
	}
	return fmt.Sprint(v)
}

func tenantStatus(st tenants.TenantStatus) command {
	var id string
	return command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&id, "tenant", "", "tenant id") },
		run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
			if err := required("tenant", id); err != nil {
				return err
			}
			if err := s.SetTenantStatus(ctx, id, st, tenants.ActorCLI); err != nil {
				return notFound(err, "tenant", id)
			}
			fmt.Fprintf(out, "tenant %s is %s\n", id, st)
			return nil
		},
	}
}

func tenantPlan() command {
	var id, plan string
	return command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "tenant", "", "tenant id")
			fs.StringVar(&plan, "plan", "", "plan id")
		},
		run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
			if err := errors.Join(required("tenant", id), required("plan", plan)); err != nil {
				return err
			}
			if err := s.SetTenantPlan(ctx, id, plan, tenants.ActorCLI); err != nil {
				return err
			}
			fmt.Fprintf(out, "tenant %s is on plan %s\n", id, plan)
			return nil
		},
	}
}

func notFound(err error, what, id string) error {
	if errors.Is(err, tenants.ErrNotFound) {
		return fmt.Errorf("no %s %q", what, id)
	}
	return err
}

func runApps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "apps", appsUsage, args, stdout, stderr, map[string]func() command{
		"create": func() command {
			var tenant, name string
			return command{
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&tenant, "tenant", "", `tenant id ("default" for the apps file's tenant)`)
					fs.StringVar(&name, "name", "", "app name")
				},
				run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
					if err := errors.Join(required("tenant", tenant), required("name", name)); err != nil {
						return err
					}
					a, k, err := s.CreateApp(ctx, tenant, &tenants.App{Name: name, Enabled: true}, tenants.ActorCLI)
					if err != nil {
						return notFound(err, "tenant", tenant)
					}
					fmt.Fprintf(out, "app_id: %s\ntenant_id: %s\nname: %s\nkey: %s\nsecret: %s\n", a.ID, a.TenantID, a.Name, k.Key, k.Secret)
					fmt.Fprintln(out, "# the secret is shown only now: store it (the database keeps it encrypted)")
					return nil
				},
			}
		},
		"list": func() command {
			var tenant string
			return command{
				flags: func(fs *flag.FlagSet) { fs.StringVar(&tenant, "tenant", "", "only this tenant's apps") },
				run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
					var apps []*tenants.App
					var err error
					if tenant != "" {
						apps, err = s.TenantApps(ctx, tenant)
						err = notFound(err, "tenant", tenant)
					} else {
						apps, err = s.Apps(ctx)
					}
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tTENANT\tNAME\tENABLED\tACTIVE KEYS")
					for _, a := range apps {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", a.ID, a.TenantID, a.Name, a.Enabled, strings.Join(publicKeys(a), ","))
					}
					return tw.Flush()
				},
			}
		},
		"rotate-key": func() command {
			var app string
			var revokeOld bool
			return command{
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&app, "app", "", "app id")
					fs.BoolVar(&revokeOld, "revoke-old", false, "revoke the app's other keys at once (their sockets are closed with 4001)")
				},
				run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
					a, err := appByID(ctx, s, app)
					if err != nil {
						return err
					}
					k, err := s.CreateKey(ctx, a.TenantID, a.ID, tenants.ActorCLI)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "app_id: %s\nkey: %s\nsecret: %s\n", a.ID, k.Key, k.Secret)
					fmt.Fprintln(out, "# the secret is shown only now: store it (the database keeps it encrypted)")
					if revokeOld {
						for _, old := range a.Keys {
							if err := s.RevokeKey(ctx, a.TenantID, a.ID, old.Key, tenants.ActorCLI); err != nil {
								return fmt.Errorf("revoke %s: %w", old.Key, err)
							}
							fmt.Fprintf(out, "revoked: %s\n", old.Key)
						}
					} else if len(a.Keys) > 0 {
						fmt.Fprintf(out, "# the old keys (%s) still work; revoke them with `switchboard apps revoke-key --app %s --key K`\n", strings.Join(publicKeys(a), ","), a.ID)
					}
					return nil
				},
			}
		},
		"revoke-key": func() command {
			var app, key string
			return command{
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&app, "app", "", "app id")
					fs.StringVar(&key, "key", "", "the public key to revoke")
				},
				run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
					if err := required("key", key); err != nil {
						return err
					}
					a, err := appByID(ctx, s, app)
					if err != nil {
						return err
					}
					switch err := s.RevokeKey(ctx, a.TenantID, a.ID, key, tenants.ActorCLI); {
					case errors.Is(err, tenants.ErrNotFound):
						return fmt.Errorf("%q is not an active key of app %s", key, a.ID)
					case errors.Is(err, tenants.ErrLastKey):
						return fmt.Errorf("%q is the only active key of app %s: create another with rotate-key first", key, a.ID)
					case err != nil:
						return err
					}
					fmt.Fprintf(out, "revoked: %s\n", key)
					return nil
				},
			}
		},
		"keys": func() command {
			var app string
			return command{
				flags: func(fs *flag.FlagSet) { fs.StringVar(&app, "app", "", "app id") },
				run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
					a, err := appByID(ctx, s, app)
					if err != nil {
						return err
					}
					ks, err := s.Keys(ctx, a.TenantID, a.ID)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "KEY\tSTATUS\tCREATED\tLAST USED\tREVOKED")
					when := func(t *time.Time) string {
						if t == nil {
							return "-"
						}
						return t.Format("2006-01-02 15:04:05Z")
					}
					for _, k := range ks {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Key, k.Status, when(&k.CreatedAt), when(k.LastUsedAt), when(k.RevokedAt))
					}
					return tw.Flush()
				},
			}
		},
		"disable": func() command { return setEnabled(false) },
		"enable":  func() command { return setEnabled(true) },
	})
}

func publicKeys(a *tenants.App) []string {
	ks := make([]string, len(a.Keys))
	for i, k := range a.Keys {
		ks[i] = k.Key
	}
	return ks
}

func appByID(ctx context.Context, s *pgstore.Store, id string) (*tenants.App, error) {
	if err := required("app", id); err != nil {
		return nil, err
	}
	a, err := s.AppByID(ctx, id)
	if err != nil {
		return nil, notFound(err, "app", id)
	}
	return a, nil
}

func setEnabled(on bool) command {
	var app string
	return command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&app, "app", "", "app id") },
		run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
			a, err := appByID(ctx, s, app)
			if err != nil {
				return err
			}
			raw, err := s.AppSettings(ctx, a.TenantID, a.ID)
			if err != nil {
				return err
			}
			raw.Enabled = on
			if _, err := s.UpdateApp(ctx, a.TenantID, raw, tenants.ActorCLI); err != nil {
				return err
			}
			state := "disabled"
			if on {
				state = "enabled"
			}
			fmt.Fprintf(out, "app %s %s\n", a.ID, state)
			return nil
		},
	}
}

func runSecrets(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "secrets", secretsUsage, args, stdout, stderr, map[string]func() command{
		"rotate": func() command {
			return command{run: func(ctx context.Context, s *pgstore.Store, out io.Writer) error {
				n, err := s.Reseal(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "re-encrypted %d secrets with the current SWITCHBOARD_SECRET_KEY\n", n)
				return nil
			}}
		},
	})
}
