package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterShards is how many primaries Cluster starts: enough that
// channels spread over more than one, few enough to start in a second.
const ClusterShards = 3

// Cluster starts a Redis Cluster of its own for this test — ClusterShards
// primaries, no replicas, nothing persisted — and returns a client on it.
// Every process is killed and its directory removed when the test ends,
// so tests need no key prefix on it. It skips without redis-server and
// redis-cli, except under CI=true, where it fails.
func Cluster(t testing.TB) *redis.ClusterClient { return StartCluster(t, 0).Client }

// TestCluster is a started cluster whose nodes a test can crash.
type TestCluster struct {
	Client *redis.ClusterClient
	Addrs  []string // every node, primary or replica
	t      testing.TB
	server string
	dir    string
	extra  []string // per-node flags
	nodes  map[string]*node
}

type node struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StartCluster is Cluster, for tests that also kill and restart nodes,
// with replicas replicas per primary. With replicas a primary that stops
// answering for a second and a half is replaced by one of its replicas
// (a short cluster-node-timeout, so tests do not wait 15 s); without, the
// default timeout leaves Restart plenty of time.
func StartCluster(t testing.TB, replicas int) *TestCluster {
	t.Helper()
	server, cli := binary(t, "redis-server"), binary(t, "redis-cli")
	c := &TestCluster{t: t, server: server, dir: t.TempDir(), nodes: map[string]*node{}}
	if replicas > 0 {
		// Validity factor 0: a replica that never had to sync much may
		// still take over.
		c.extra = []string{"--cluster-node-timeout", "1500", "--cluster-replica-validity-factor", "0"}
	}
	for _, port := range clusterPorts(t, ClusterShards*(1+replicas)) {
		a := "127.0.0.1:" + strconv.Itoa(port)
		c.Addrs = append(c.Addrs, a)
		c.start(a)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.kill()
		}
	})
	for _, a := range c.Addrs {
		waitNode(t, a, 10*time.Second, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK()
	if replicas > 0 {
		// A failover needs every replica known as one and in sync.
		for _, a := range c.Addrs {
			waitNode(t, a, 15*time.Second, func(ctx context.Context, n *redis.Client) error {
				nodes, err := n.ClusterNodes(ctx).Result()
				if err != nil {
					return err
				}
				if k := strings.Count(nodes, "slave"); k != ClusterShards*replicas {
					return fmt.Errorf("%d replicas known, want %d", k, ClusterShards*replicas)
				}
				info, err := n.Info(ctx, "replication").Result()
				if err != nil {
					return err
				}
				if strings.Contains(info, "role:slave") && !strings.Contains(info, "master_link_status:up") {
					return errors.New("replica not in sync yet")
				}
				return nil
			})
		}
	}

	c.Client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { c.Client.Close() }) // before the kills: cleanups run last first
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	// Until the client's view has every primary, routing may still fail.
	for {
		n := 0
		if shards, err := c.Client.ClusterShards(ctx2).Result(); err == nil {
			for _, s := range shards {
				if len(s.Slots) > 0 {
					n++
				}
			}
		}
		if n == ClusterShards && c.Client.ForEachMaster(ctx2, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }) == nil {
			break
		}
		if ctx2.Err() != nil {
			t.Fatalf("cluster client never saw %d primaries", ClusterShards)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// waitOK waits until every node says cluster_state:ok: redis-cli returns
// once the slots are assigned, a node says ok only when it has heard
// from the others that every slot is served.
func (c *TestCluster) waitOK() {
	c.t.Helper()
	for _, a := range c.Addrs {
		waitNode(c.t, a, 15*time.Second, func(ctx context.Context, c *redis.Client) error {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("cluster not ok yet:\n%s", info)
			}
			return nil
		})
	}
}

// Kill crashes the node at addr (SIGKILL).
func (c *TestCluster) Kill(addr string) {
	c.t.Helper()
	n := c.nodes[addr]
	if n == nil {
		c.t.Fatalf("no running node %s", addr)
	}
	n.kill()
	delete(c.nodes, addr)
}

// Restart starts a killed node again on its address. It keeps its node id
// and slots (from its nodes-<port>.conf) but no data, and rejoins the
// cluster; Restart returns once every node says the cluster is ok.
// Within the cluster's node timeout (15 s) no failover happens.
func (c *TestCluster) Restart(addr string) {
	c.t.Helper()
	c.start(addr)
	c.waitOK()
}

func (c *TestCluster) start(addr string) {
	c.t.Helper()
	_, p, _ := net.SplitHostPort(addr)
	cmd := exec.Command(c.server,
		"--port", p, "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(c.dir, "nodes-"+p+".conf"),
		"--save", "", "--appendonly", "no", "--dir", c.dir,
		"--logfile", filepath.Join(c.dir, "redis-"+p+".log"))
	cmd.Args = append(cmd.Args, c.extra...)
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	n := &node{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.done) }()
	c.nodes[addr] = n
}

func (n *node) kill() {
	_ = n.cmd.Process.Kill()
	<-n.done
}

func binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// waitNode polls ok on a connection to addr until it holds or d passes.
func waitNode(t testing.TB, addr string, d time.Duration, ok func(context.Context, *redis.Client) error) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ok(ctx, c)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis node %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clusterPorts picks n free loopback ports whose cluster bus ports
// (port+10000) are free too. The listeners stay open until all are
// picked, so the n differ.
func clusterPorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatal("no free port pairs for a Redis Cluster")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		if port > 55000 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		held = append(held, bus)
		ports = append(ports, port)
	}
	return ports
}
