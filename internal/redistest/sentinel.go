package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name StartSentinel's Sentinel monitors.
const SentinelMaster = "sbtest"

// TestSentinel is a primary, its replica and one Sentinel, all of the
// test's own; each is killed when the test ends.
type TestSentinel struct {
	Sentinel string // the Sentinel's address
	Primary  string // the primary's address at start
	Replica  string
	procs    map[string]*node
}

// StartSentinel starts a primary, a replica of it and a Sentinel with a
// quorum of one that declares the primary down after one second, so a
// killed primary is replaced within a few seconds. It skips (fails under
// CI=true) without redis-server.
func StartSentinel(t testing.TB) *TestSentinel {
	t.Helper()
	server := binary(t, "redis-server")
	dir := t.TempDir()
	ports := clusterPorts(t, 3) // plain ports; the +10000 check does no harm
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	s := &TestSentinel{Primary: addr(ports[0]), Replica: addr(ports[1]), Sentinel: addr(ports[2]), procs: map[string]*node{}}
	t.Cleanup(func() {
		for _, n := range s.procs {
			n.kill()
		}
	})
	run := func(a string, args ...string) {
		cmd := exec.Command(server, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		n := &node{cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(n.done) }()
		s.procs[a] = n
	}
	data := func(p int) []string {
		ps := strconv.Itoa(p)
		return []string{"--port", ps, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--dbfilename", "dump-" + ps + ".rdb", "--logfile", filepath.Join(dir, "redis-"+ps+".log")}
	}
	run(s.Primary, data(ports[0])...)
	run(s.Replica, append(data(ports[1]), "--replicaof", "127.0.0.1", strconv.Itoa(ports[0]))...)
	// Sentinel rewrites its config file, so it gets one of its own.
	conf := filepath.Join(dir, "sentinel.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 10000
`, ports[2], dir, filepath.Join(dir, "sentinel.log"), SentinelMaster, ports[0], SentinelMaster, SentinelMaster)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	run(s.Sentinel, conf, "--sentinel")

	waitNode(t, s.Replica, 15*time.Second, func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return errors.New("replica not in sync yet")
		}
		return nil
	})
	// Sentinel finds replicas through the primary's INFO, every 10 s at
	// first; until it knows one it cannot fail over.
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel})
	defer sc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		reps, err := sc.Replicas(ctx, SentinelMaster).Result()
		cancel()
		if err == nil && len(reps) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Sentinel never saw the replica: %v %v", reps, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// KillPrimary crashes the primary; Sentinel promotes the replica.
func (s *TestSentinel) KillPrimary() {
	if n := s.procs[s.Primary]; n != nil {
		n.kill()
		delete(s.procs, s.Primary)
	}
}
