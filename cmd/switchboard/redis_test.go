package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/internal/redistest"
)

func TestParseRedis(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		rc, err := parseRedis("single", "redis://:pw@h1:6380/2?dial_timeout=3")
		if err != nil {
			t.Fatal(err)
		}
		if o := rc.single; o == nil || o.Addr != "h1:6380" || o.DB != 2 || o.Password != "pw" || rc.cluster != nil || rc.sentinel != nil {
			t.Fatalf("%+v", rc)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		rc, err := parseRedis("cluster", "redis://:pw@h1:7000?addr=h2:7001&addr=h3:7002")
		if err != nil {
			t.Fatal(err)
		}
		o := rc.cluster
		if o == nil || strings.Join(o.Addrs, ",") != "h1:7000,h2:7001,h3:7002" || o.Password != "pw" || rc.single != nil {
			t.Fatalf("%+v", rc)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		rc, err := parseRedis("sentinel", "redis://s1:26379?addr=s2:26379&master_name=mymaster")
		if err != nil {
			t.Fatal(err)
		}
		o := rc.sentinel
		if o == nil || o.MasterName != "mymaster" || strings.Join(o.SentinelAddrs, ",") != "s1:26379,s2:26379" {
			t.Fatalf("%+v", rc)
		}
	})
}

// Bad Redis settings stop start-up with an error that names the setting
// and never shows the password.
func TestBadRedisSettings(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--redis-mode", "ring", "--redis-url", "redis://h:6379"}, "--redis-mode"},
		{[]string{"--redis-mode", "cluster"}, "--redis-mode"},
		{[]string{"--redis-url", "http://:secretpw@h:6379"}, "--redis-url"},
		{[]string{"--redis-mode", "cluster", "--redis-url", "redis://:secretpw@h:7000?no_such_option=1"}, "--redis-url"},
		{[]string{"--redis-mode", "sentinel", "--redis-url", "redis://:secretpw@s1:26379"}, "master_name"},
		{[]string{"--redis-mode", "sentinel", "--redis-url", "redis://s1:26379?password=secretpw&bogus=1"}, "--redis-url"},
		{[]string{"--redis-url", "redis://:secretpw%zz@h:6379"}, "--redis-url"},
	}
	for _, tc := range cases {
		_, err := parseServeConfig(tc.args, io.Discard)
		if err == nil {
			t.Errorf("%v: accepted", tc.args)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %q does not name %s", tc.args, err, tc.want)
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%v: error %q shows the password", tc.args, err)
		}
	}
}

// A node starts on a Redis Cluster: the bus and state work through it.
func TestOpenBusOnCluster(t *testing.T) {
	cc := redistest.Cluster(t)
	addrs := cc.Options().Addrs
	u := "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
	cfg, err := parseServeConfig([]string{"--redis-mode", "cluster", "--redis-url", u, "--redis-prefix", redistest.Prefix(t, cc)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := openBus(context.Background(), cfg, 1, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer bb.close()
	if !bb.healthy() {
		t.Fatal("bus on the cluster is not healthy")
	}
	if _, err := bb.state.AddSubscription(t.Context(), "app", "news", "1.1"); err != nil {
		t.Fatal(err)
	}
}

// A node starts behind Sentinel, given only the Sentinel and the name.
func TestOpenBusOnSentinel(t *testing.T) {
	s := redistest.StartSentinel(t)
	cfg, err := parseServeConfig([]string{"--redis-mode", "sentinel", "--redis-url",
		"redis://" + s.Sentinel + "?master_name=" + redistest.SentinelMaster, "--redis-prefix", "sbtest:open:"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := openBus(context.Background(), cfg, 1, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer bb.close()
	if !bb.healthy() {
		t.Fatal("bus behind Sentinel is not healthy")
	}
	if _, err := bb.state.AddSubscription(t.Context(), "app", "news", "1.1"); err != nil {
		t.Fatal(err)
	}
}
