// Command switchboard runs every role of Switchboard, a Pusher-compatible
// realtime service: `switchboard serve` (the default) runs a node;
// `switchboard healthcheck` checks it; `switchboard version` prints the
// build.
//
// This package only parses configuration, constructs the parts and runs
// them; everything else lives in its own package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

// errHelp ends a run that only printed usage.
var errHelp = errors.New("help requested")

// version is set with -ldflags "-X main.version=…"; otherwise it comes
// from the module's build info.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		if v != "" {
			return v
		}
	}
	return "devel"
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, err := parseServeConfig(args, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout)
	case "healthcheck":
		return runHealthcheck(ctx, args, stdout, stderr)
	case "bench":
		return runBench(ctx, args, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "tenants":
		return runTenants(ctx, args, stdout, stderr)
	case "apps":
		return runApps(ctx, args, stdout, stderr)
	case "secrets":
		return runSecrets(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "switchboard", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage: switchboard [command] [flags]

commands:
  serve        run a node (the default); see switchboard serve -h
  healthcheck  exit 0 if this machine's node answers 200 on /healthz, 1 otherwise (for HEALTHCHECK)
  migrate      apply (up), roll back (down) or list (status) database migrations
  tenants      create and list tenants on the database (--database-url)
  apps         create, list, rotate keys of, disable and enable apps on the database
  secrets      rotate: re-encrypt app secrets after a change of SWITCHBOARD_SECRET_KEY
  bench        load-generate against any Pusher-compatible server; see switchboard bench -h
  version      print the version
`
