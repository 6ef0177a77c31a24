package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/peterbourgon/ff/v3"
)

// runHealthcheck is `switchboard healthcheck`: it asks the node on this
// machine for /healthz and fails unless it answers 200. The container
// image has no shell or curl, so this is what its HEALTHCHECK runs. It
// reads --host, --port and --tls-cert the way serve does (flags,
// SWITCHBOARD_* environment, --config file), so it finds the node the
// same settings started.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("switchboard healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "", "the node's --host; empty or a wildcard address: 127.0.0.1")
	port := fs.Int("port", 6001, "the node's --port")
	tlsCert := fs.String("tls-cert", "", "the node's --tls-cert: set, the check speaks https (certificate not verified on loopback addresses)")
	rawURL := fs.String("url", "", "check this URL instead (http:// or https://); its path defaults to /healthz")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.String("config", "", "the node's config file (YAML or JSON); only host, port and tls-cert are read from it")
	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix("SWITCHBOARD"),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(parseConfigFile),
		ff.WithIgnoreUndefined(true), // the file holds every serve setting
	)
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout: must be positive, got %s", *timeout)
	}
	target, err := healthURL(*rawURL, *host, *port, *tlsCert != "")
	if err != nil {
		return err
	}
	return checkHealth(ctx, target, *timeout, stdout)
}

// healthURL is --url, or the node's own /healthz from its listen settings.
func healthURL(raw, host string, port int, useTLS bool) (*url.URL, error) {
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--url: %q is not an http:// or https:// URL", raw)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/healthz"
		}
		return u, nil
	}
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("--port: %d is not the port of a running node (1-65535)", port)
	}
	// A node listening on every interface is reached on loopback.
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: "/healthz"}, nil
}

// isLoopback reports whether host (a name or an address) is this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHealth GETs u and returns nil on 200, else an error that says why
// in one line.
func checkHealth(ctx context.Context, u *url.URL, timeout time.Duration, stdout io.Writer) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the node is asked directly, never through HTTP_PROXY
	// The node's own certificate names its public host, not 127.0.0.1, so
	// on loopback it cannot verify; nothing on the way can intercept a
	// loopback connection either. Anywhere else it is verified as usual.
	if u.Scheme == "https" && isLoopback(u.Hostname()) {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback only, see above
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, below
		}
		return fmt.Errorf("healthcheck: %s: unhealthy: %v", u, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: unhealthy: answered %s", u, res.Status)
	}
	fmt.Fprintf(stdout, "%s: healthy\n", u)
	return nil
}
