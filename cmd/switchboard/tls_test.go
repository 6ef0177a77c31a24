package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/protocol"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial to certFile/keyFile.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "switchboard test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	// Key first, then certificate: the reload only sees a change once both
	// are written, and a pair that does not match is kept out anyway.
	if err := os.WriteFile(keyFile+".tmp", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile+".tmp", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{keyFile, certFile} {
		if err := os.Rename(f+".tmp", f); err != nil {
			t.Fatal(err)
		}
	}
}

func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the served certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSServesAndReloads: with --tls-cert/--tls-key the main port speaks
// wss:// and https://; a renewed certificate is served to new connections
// while a socket opened before keeps working.
func TestTLSServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1)
	addr, _, _ := startServe(t, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-reload-interval", "100ms")

	h := &wsHandler{frames: make(chan string, 16), closed: make(chan uint16, 1)}
	ws, _, err := gws.NewClient(h, &gws.ClientOption{
		Addr:      "wss://" + addr + "/app/app-key?protocol=7",
		TlsConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed test certificate
	})
	if err != nil {
		t.Fatal(err)
	}
	go ws.ReadLoop()
	defer ws.NetConn().Close()
	sub := &subscriber{t: t, ws: ws, h: h}
	sub.await(protocol.EventConnectionEstablished)
	if got := servedSerial(t, addr); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	time.Sleep(20 * time.Millisecond) // a later modification time
	writeCert(t, certFile, keyFile, 2)
	waitFor(t, func() bool { return servedSerial(t, addr) == 2 })

	// The socket from before the reload still works.
	if err := ws.WriteString(`{"event":"pusher:ping","data":{}}`); err != nil {
		t.Fatal(err)
	}
	sub.await("pusher:pong")

	// The HTTP gateways (SSE here) dial the node over TLS too.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test certificate
	resp, err := client.Get("https://" + addr + "/app/app-key/events?channels=over-tls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	got := ""
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(got, "subscription_succeeded") && time.Now().Before(deadline) {
		n, err := resp.Body.Read(buf)
		got += string(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(got, "subscription_succeeded") {
		t.Fatalf("SSE over TLS: %d %q", resp.StatusCode, got)
	}
}

func TestTLSNeedsBothFiles(t *testing.T) {
	err := run(t.Context(), []string{"serve", "--tls-cert", "x.pem"}, os.Stderr, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "--tls-cert and --tls-key") {
		t.Fatalf("err = %v", err)
	}
	err = run(t.Context(), []string{"serve", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key", "--port", "0"}, os.Stderr, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "--tls-cert/--tls-key") {
		t.Fatalf("err = %v", err)
	}
}
