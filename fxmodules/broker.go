package fxmodules

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/buildinfo"
)

// Identity names this agent process in leases, claims and heartbeats: "<host>.<pid>".
type Identity struct {
	ID   string
	Host string
	PID  int
}

// Broker starts the embedded NATS server or connects to NATS_URL, provisions the streams,
// consumers and buckets, and keeps this process's heartbeat in the agents bucket.
var Broker = fx.Module("broker",
	fx.Provide(newIdentity, newBroker, newTopology, newHeartbeatTask),
)

func newIdentity() Identity {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return Identity{ID: host + "." + strconv.Itoa(pid), Host: host, PID: pid}
}

// BrokerOptions maps the settings to broker options.
func BrokerOptions(s *config.Settings, id Identity) (broker.Options, error) {
	name := "jobbergate-agent " + id.ID
	if !s.Embedded() {
		var urls []string
		for _, u := range strings.Split(s.NATSURL, ",") {
			urls = append(urls, strings.TrimSpace(u))
		}
		return broker.Options{Name: name, Client: &broker.ClientOptions{
			URLs: urls, User: s.NATSUser, Password: s.NATSPassword, Token: s.NATSToken,
			NKeySeedFile: s.NATSNKeySeed, CredsFile: s.NATSCreds,
			CAFile: s.NATSTLSCA, CertFile: s.NATSTLSCert, KeyFile: s.NATSTLSKey,
			JetStreamDomain: s.NATSDomain,
			// Replies come on the cluster's own inbox prefix, which the example permissions of
			// deploy/nats allow (the shared _INBOX.> would let one cluster read another's).
			InboxPrefix: "_INBOX_" + s.NATSPrefix,
		}}, nil
	}
	token, err := EmbeddedToken(s, true)
	if err != nil {
		return broker.Options{}, err
	}
	e := &broker.EmbeddedOptions{StoreDir: s.NATSStoreDir, JetStreamDomain: s.NATSDomain, Token: token}
	if !s.NATSSyncAlways {
		e.SyncInterval = 2 * time.Minute // nats-server's default
	}
	if s.NATSListen == "" {
		e.NoListen = true
	} else {
		host, port, err := net.SplitHostPort(s.NATSListen)
		if err != nil {
			return broker.Options{}, fmt.Errorf("NATS_LISTEN: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return broker.Options{}, fmt.Errorf("NATS_LISTEN: port %q: %w", port, err)
		}
		if p == 0 {
			p = -1 // a random free port
		}
		e.ListenHost, e.ListenPort = host, p
	}
	if s.NATSLeafRemote != "" {
		e.LeafRemote = &broker.LeafRemote{URLs: strings.Split(s.NATSLeafRemote, ","), CredsFile: s.NATSLeafCreds}
	}
	return broker.Options{Name: name, Embedded: e}, nil
}

func newBroker(lc fx.Lifecycle, s *config.Settings, id Identity, logger *slog.Logger) (*broker.Broker, error) {
	opts, err := BrokerOptions(s, id)
	if err != nil {
		return nil, err
	}
	if opts.Embedded != nil {
		if err := os.MkdirAll(opts.Embedded.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("NATS store: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := broker.Start(ctx, opts, logger.With("component", "nats"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) error { return b.Close(ctx) }))
	return b, nil
}

// Topology returns the names and limits for the settings.
func Topology(s *config.Settings) (broker.Topology, error) {
	t, err := broker.NewTopology(s.NATSPrefix)
	if err != nil {
		return t, fmt.Errorf("NATS_PREFIX: %w", err)
	}
	t.Limits.Replicas = s.NATSReplicas
	t.Limits.LeaseTTL = s.LeaseTTL
	return t, nil
}

func newTopology(b *broker.Broker, s *config.Settings, logger *slog.Logger) (broker.Topology, error) {
	t, err := Topology(s)
	if err != nil {
		return t, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := broker.Provision(ctx, b.JS, t); err != nil {
		return t, err
	}
	logger.Info("streams and buckets ready", "prefix", t.Prefix, "replicas", t.Limits.Replicas)
	return t, nil
}

func newHeartbeatTask(b *broker.Broker, t broker.Topology, s *config.Settings, id Identity, logger *slog.Logger) (TaskResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := b.JS.KeyValue(ctx, t.AgentsBucket)
	if err != nil {
		return TaskResult{}, fmt.Errorf("agents bucket: %w", err)
	}
	hb := broker.NewHeartbeat(kv, broker.AgentInfo{
		Host: id.Host, PID: id.PID, Version: buildinfo.Version, Roles: s.Roles,
	}, t.Limits.AgentsTTL/3, logger.With("component", "heartbeat"))
	return TaskResult{Task: Task{Name: "heartbeat", Run: hb.Run}}, nil
}
