//go:build race

package rawsock

// The race detector learns from the standard library's reads and writes
// that a read sees what was written before it, on either end of a
// socket; raw calls would hide that and make every test that talks over
// a socket report races. Race builds use net.Conn.
const raceBuild = true
