// Package migrations holds the control plane's PostgreSQL schema as SQL
// files, embedded in the binary and applied with goose
// (github.com/pressly/goose/v3) by tenants/pgstore and
// `switchboard migrate`. Files are numbered; each has an Up and a Down
// section, and Down undoes exactly its own Up.
//
// It imports nothing of ours.
package migrations

import "embed"

// FS holds the migration files at its root.
//
//go:embed *.sql
var FS embed.FS
