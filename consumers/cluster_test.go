package consumers

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// startCluster starts three embedded servers joined by routes (a JetStream cluster) and returns
// them with an R3 topology provisioned.
func startCluster(t *testing.T) ([]*broker.Broker, broker.Topology) {
	t.Helper()
	// Clustered JetStream is ready only with a quorum, so the three start together on route
	// ports picked in advance.
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	nodes := make([]*broker.Broker, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = broker.Start(context.Background(), broker.Options{Name: "node" + strconv.Itoa(i+1), Embedded: &broker.EmbeddedOptions{
				StoreDir: t.TempDir(), ServerName: "n" + strconv.Itoa(i+1), ListenPort: -1,
				Cluster: &broker.ClusterOptions{Name: "jbg-test", Port: ports[i], Routes: routes},
			}}, testenv.Logger(t))
		}()
	}
	wg.Wait()
	for i, b := range nodes {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { _ = b.Close(context.Background()) })
	}
	topo, _ := broker.NewTopology("JBG_CL")
	topo.Limits.Replicas = 3
	topo.Limits.AckWait = 5 * time.Second
	var lastErr error
	testenv.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lastErr = broker.Provision(ctx, nodes[0].JS, topo)
		return lastErr == nil
	}, "R3 provisioning on the cluster (last error: %v)", &lastErr)
	return nodes, topo
}

// clusterClient connects to all three nodes, starting with node first.
func clusterClient(t *testing.T, nodes []*broker.Broker, first int) *broker.Broker {
	t.Helper()
	var urls []string
	for i := range nodes {
		urls = append(urls, nodes[(first+i)%len(nodes)].ClientURL())
	}
	c, err := broker.Start(context.Background(), broker.Options{Client: &broker.ClientOptions{
		URLs: urls, ReconnectWait: 50 * time.Millisecond, MaxReconnectWait: 200 * time.Millisecond}}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	testenv.Eventually(t, 10*time.Second, c.Conn.IsConnected, "client connected")
	return c
}

type tally struct {
	mu     sync.Mutex
	counts map[string]int
	byRun  map[string]int
}

func (ta *tally) handler(runner string) Handler {
	return HandlerFunc(func(ctx context.Context, m *Message) Decision {
		ta.mu.Lock()
		ta.counts[m.Subject]++
		ta.byRun[runner]++
		ta.mu.Unlock()
		return Ack()
	})
}

func (ta *tally) distinct() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return len(ta.counts)
}

func TestClusterTwoRunnersExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster")
	}
	nodes, topo := startCluster(t)
	pub := clusterClient(t, nodes, 0)
	ta := &tally{counts: map[string]int{}, byRun: map[string]int{}}
	for i, name := range []string{"r1", "r2"} {
		c := clusterClient(t, nodes, i+1)
		runRunner(t, NewRunner(c.JS, ConfigFor(topo, topo.Submit, 8), ta.handler(name), testenv.Logger(t)))
	}
	const n = 1000
	for i := range n {
		publish(t, pub.JS, topo.Submit.Subject(strconv.Itoa(i)), strconv.Itoa(i), "job")
	}
	testenv.Eventually(t, 60*time.Second, func() bool {
		return ta.distinct() == n && streamMsgs(t, pub.JS, topo.Submit.Stream) == 0
	}, "all %d handled", n)
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for s, c := range ta.counts {
		if c != 1 {
			t.Errorf("%s handled %d times", s, c)
		}
	}
	t.Logf("handled per runner: %v", ta.byRun)
	if ta.byRun["r1"] == 0 || ta.byRun["r2"] == 0 {
		t.Errorf("work not shared between the runners: %v", ta.byRun)
	}
}

func TestClusterNodeLossLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster")
	}
	nodes, topo := startCluster(t)
	pub := clusterClient(t, nodes, 0)
	const n = 1000
	for i := range n {
		publish(t, pub.JS, topo.Submit.Subject(strconv.Itoa(i)), strconv.Itoa(i), "job")
	}
	ta := &tally{counts: map[string]int{}, byRun: map[string]int{}}
	for i, name := range []string{"r1", "r2"} {
		c := clusterClient(t, nodes, i+1) // r1 starts on n2, r2 on n3
		cfg := ConfigFor(topo, topo.Submit, 4)
		runRunner(t, NewRunner(c.JS, cfg, ta.handler(name), testenv.Logger(t)))
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return ta.distinct() >= n/4 }, "a quarter handled")
	// Kill node 3 mid-run (r2's server, maybe a stream leader).
	nodes[2].Server().Shutdown()
	testenv.Eventually(t, 90*time.Second, func() bool {
		if ta.distinct() != n {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := pub.JS.Stream(ctx, topo.Submit.Stream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	}, "every message handled after losing a node (handled %d)", ta.distinct())
	ta.mu.Lock()
	defer ta.mu.Unlock()
	dups := 0
	for _, c := range ta.counts {
		dups += c - 1
	}
	t.Logf("handled per runner: %v; redelivered during failover: %d", ta.byRun, dups)
}
