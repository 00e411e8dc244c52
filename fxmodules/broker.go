package fxmodules

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
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

func newBroker(start StartContext, lc fx.Lifecycle, s *config.Settings, id Identity, logger *slog.Logger) (*broker.Broker, error) {
	opts, err := broker.OptionsFor(s, "jobbergate-agent "+id.ID)
	if err != nil {
		return nil, err
	}
	if opts.Embedded != nil {
		if err := os.MkdirAll(opts.Embedded.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("NATS store: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(start, time.Minute)
	defer cancel()
	b, err := broker.Start(ctx, opts, logger.With("component", "nats"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) error { return b.Close(ctx) }))
	return b, nil
}

func newTopology(start StartContext, b *broker.Broker, s *config.Settings, logger *slog.Logger) (broker.Topology, error) {
	t, err := broker.TopologyFor(s)
	if err != nil {
		return t, err
	}
	ctx, cancel := context.WithTimeout(start, time.Minute)
	defer cancel()
	if err := broker.Provision(ctx, b.JS, t); err != nil {
		return t, err
	}
	logger.Info("streams and buckets ready", "prefix", t.Prefix, "replicas", t.Limits.Replicas)
	return t, nil
}

func newHeartbeatTask(start StartContext, b *broker.Broker, t broker.Topology, s *config.Settings, id Identity, logger *slog.Logger) (TaskResult, error) {
	ctx, cancel := context.WithTimeout(start, 30*time.Second)
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
