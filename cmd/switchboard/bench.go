package main

import (
	"context"
	"io"

	"github.com/switchboard-rt/switchboard/loadgen"
)

// runBench runs `switchboard bench <scenario> [flags]`; args start at the
// scenario. --procs and compare re-execute this binary as
// `switchboard bench …`, so the command must keep that name.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return loadgen.Main(ctx, args, stdout, stderr)
}
