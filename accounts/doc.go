// Package accounts holds the dashboard's people: tenant users with an
// email, a password hash and a role, and their server-side sessions.
// It has the domain types, password hashing, session ids and the memory
// store (the embedded default); accounts/pgaccounts keeps the same on
// PostgreSQL. The interface both satisfy is declared by its consumer,
// dashboard.Accounts, and both pass accounts/accountstest.
//
// It imports nothing of ours: accounts has its own sentinel errors, so
// the embedded build and pgaccounts depend on it alone.
package accounts
