package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/internal/periodic"
)

// certificate serves the key pair of --tls-cert/--tls-key and reloads it
// when either file changes, so a renewed certificate (cert-manager,
// certbot) is used for new connections while open sockets keep theirs.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
	modified          time.Time // of the files last loaded; only the reload loop touches it
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return c, nil
}

func (c *certificate) load() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	c.current.Store(&pair)
	c.modified = c.lastModified()
	return nil
}

func (c *certificate) lastModified() time.Time {
	var latest time.Time
	for _, f := range []string{c.certFile, c.keyFile} {
		if st, err := os.Stat(f); err == nil && st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	return latest
}

// config is the TLS configuration of the main listener.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

// watch reloads the pair when the files change, until ctx ends. A pair
// that does not load (a renewal half written) keeps the old one in use.
func (c *certificate) watch(ctx context.Context, every time.Duration, log *slog.Logger) error {
	periodic.Every(ctx, every, func(context.Context) {
		m := c.lastModified()
		if !m.After(c.modified) {
			return
		}
		if err := c.load(); err != nil {
			log.Error("TLS certificate changed but does not load; keeping the previous one", "err", err)
			c.modified = m // try again at the next change, not every tick
			return
		}
		log.Info("TLS certificate reloaded", "cert", c.certFile)
	})
	return nil
}

// tlsListener wraps ln in TLS with the reloading certificate.
func tlsListener(ln net.Listener, c *certificate) net.Listener {
	return tls.NewListener(ln, c.config())
}
