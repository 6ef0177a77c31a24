package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The dashboard answers in every mode: the embedded default and on
// PostgreSQL, where the first owner survives a restart.
func TestServeDashboard(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		addr, logs, _ := startServe(t, "--dashboard-secure-cookies")
		if !strings.Contains(logs.String(), "dashboard: no user yet") {
			t.Errorf("no warning that the first-owner form is open:\n%s", logs)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get("http://" + addr + "/dashboard")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/dashboard/" {
			t.Fatalf("/dashboard: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		res, err = c.Get("http://" + addr + "/dashboard/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), "Create owner account") || !strings.Contains(res.Header.Get("Set-Cookie"), "Secure") {
			t.Fatalf("/dashboard/: %d %q\n%s", res.StatusCode, res.Header.Get("Set-Cookie"), body)
		}
		if code, body := get(t, "http://"+addr+"/dashboard/static/style.css"); code != 200 || !strings.Contains(body, "--accent") {
			t.Fatalf("style.css: %d", code)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		db := newDatabase(t)
		dbf := []string{"--database-url", db, "--secret-key", newSecretKey()}
		addr, _, stop := startServe(t, append(dbf, "--migrate")...)
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		page := func(method, path string, form url.Values) (int, string) {
			t.Helper()
			var res *http.Response
			var err error
			if method == "GET" {
				res, err = c.Get("http://" + addr + path)
			} else {
				res, err = c.PostForm("http://"+addr+path, form)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(b)
		}
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
		_, body := page("GET", "/dashboard/", nil)
		tok := csrf.FindStringSubmatch(body)
		if tok == nil {
			t.Fatalf("no setup form:\n%s", body)
		}
		code, body := page("POST", "/dashboard/setup", url.Values{"csrf": {tok[1]}, "email": {"op@example.com"}, "password": {"correct horse battery"}})
		if code != 200 || !strings.Contains(body, "<span>Default · owner</span>") {
			t.Fatalf("setup: %d\n%s", code, body)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		// After a restart the session (kept in PostgreSQL) still holds.
		addr, logs, _ := startServe(t, dbf...)
		if strings.Contains(logs.String(), "no user yet") {
			t.Error("the first-owner warning with an owner in the database")
		}
		if code, body := page("GET", "/dashboard/apps", nil); code != 200 || !strings.Contains(body, "op@example.com") {
			t.Fatalf("after restart: %d\n%s", code, body)
		}
	})
}
