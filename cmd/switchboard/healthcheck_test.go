package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func healthcheck(args ...string) (string, error) {
	var out strings.Builder
	err := run(context.Background(), append([]string{"healthcheck"}, args...), &out, io.Discard)
	return out.String(), err
}

func TestHealthcheckFindsTheNode(t *testing.T) {
	addr, _, stop := startServe(t)
	_, port, _ := net.SplitHostPort(addr)

	out, err := healthcheck("--port", port)
	if err != nil || !strings.Contains(out, "http://127.0.0.1:"+port+"/healthz: healthy") {
		t.Fatalf("--port: %q %v", out, err)
	}
	// The node's own settings, as its container gives them to both.
	t.Setenv("SWITCHBOARD_PORT", port)
	t.Setenv("SWITCHBOARD_HOST", "0.0.0.0") // every interface: checked on loopback
	if _, err := healthcheck(); err != nil {
		t.Fatalf("SWITCHBOARD_PORT: %v", err)
	}
	os.Unsetenv("SWITCHBOARD_PORT")
	os.Unsetenv("SWITCHBOARD_HOST")
	cfg := filepath.Join(t.TempDir(), "switchboard.yaml")
	os.WriteFile(cfg, []byte("port: "+port+"\nhost: 127.0.0.1\nredis-url: redis://elsewhere:6379/0\nroles: edge\n"), 0o600)
	if _, err := healthcheck("--config", cfg); err != nil {
		t.Fatalf("--config: %v", err)
	}
	if _, err := healthcheck("--url", "http://"+addr); err != nil {
		t.Fatalf("--url: %v", err)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, err = healthcheck("--port", port)
	if err == nil || !strings.Contains(err.Error(), "unhealthy") || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("stopped node: %v", err)
	}
}

func TestHealthcheckFailures(t *testing.T) {
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" { // --url without a path asks /healthz
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	if _, err := healthcheck("--url", sick.URL); err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Errorf("503: %v", err)
	}
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	if _, err := healthcheck("--url", hang.URL+"/healthz", "--timeout", "200ms"); err == nil || !strings.Contains(err.Error(), "unhealthy") {
		t.Errorf("hanging node: %v", err)
	}
	redirect := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	defer redirect.Close()
	if _, err := healthcheck("--url", redirect.URL); err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("redirect: %v", err)
	}
	for _, tc := range []struct{ args, want []string }{
		{[]string{"--url", "ftp://x/healthz"}, []string{"--url"}},
		{[]string{"--url", "127.0.0.1:6001"}, []string{"--url"}},
		{[]string{"--port", "0"}, []string{"--port"}},
		{[]string{"--timeout", "0s"}, []string{"--timeout"}},
		{[]string{"extra"}, []string{"extra"}},
	} {
		if _, err := healthcheck(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want[0]) {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
}

// With --tls-cert the check speaks https; the node's certificate (self-
// signed here, and in production made for its public name, not
// 127.0.0.1) is not verified on loopback, and is everywhere else.
func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, key, 1)
	addr, _, _ := startServe(t, "--tls-cert", cert, "--tls-key", key)
	_, port, _ := net.SplitHostPort(addr)
	if _, err := healthcheck("--port", port); err == nil {
		t.Error("plain http to a TLS node passed")
	}
	out, err := healthcheck("--port", port, "--tls-cert", cert)
	if err != nil || !strings.HasPrefix(out, "https://127.0.0.1:"+port+"/healthz: healthy") {
		t.Fatalf("https: %q %v", out, err)
	}
	if u, _ := healthURL("https://switchboard.example:6001", "", 0, false); u.String() != "https://switchboard.example:6001/healthz" || isLoopback(u.Hostname()) {
		t.Errorf("a remote https URL would skip verification: %v", u)
	}
}

// The binary as the image's HEALTHCHECK runs it: exit status 0 or 1.
func TestHealthcheckExitStatus(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "switchboard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr, _, stop := startServe(t)
	_, port, _ := net.SplitHostPort(addr)
	check := func() (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "healthcheck")
		cmd.Env = append(os.Environ(), "SWITCHBOARD_PORT="+port)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := check(); code != 0 {
		t.Fatalf("healthy node: exit %d: %s", code, out)
	}
	_ = stop()
	code, out := check()
	if code != 1 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "unhealthy") {
		t.Fatalf("stopped node: exit %d: %q", code, out)
	}
}
