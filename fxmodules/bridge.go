package fxmodules

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"go.uber.org/fx"
	"golang.org/x/sync/errgroup"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/health"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// TimedSource is a bridge source with the interval at which the leader polls it. Consumer
// modules contribute them to the "bridge_sources" group.
type TimedSource struct {
	Source   bridge.Source
	Interval time.Duration
}

// SourceResult lets a constructor contribute a TimedSource.
type SourceResult struct {
	fx.Out
	Source TimedSource `group:"bridge_sources"`
}

type bridgeParams struct {
	fx.In
	Start    StartContext
	Broker   *broker.Broker
	Topology broker.Topology
	Settings *config.Settings
	Identity Identity
	API      *jobbergate.Client
	Logger   *slog.Logger
	Sources  []TimedSource `group:"bridge_sources"`
}

// Bridge elects one leader per cluster through the leases bucket; the leader runs one poller per
// distinct source interval. The bridge enqueues the work of every role (pending submissions,
// active ones, health ticks, metrics when InfluxDB is configured) whatever roles this process
// takes, so a login node may run only the bridge and others only consumers.
var Bridge = fx.Module("bridge", fx.Provide(newActiveLister, newSubmitSource, newUpdateSource, newMetricsSource, newHealthSource, newBridgeTask))

func newBridgeTask(p bridgeParams) (TasksResult, error) {
	ctx, cancel := context.WithTimeout(p.Start, 30*time.Second)
	defer cancel()
	kv, err := p.Broker.JS.KeyValue(ctx, p.Topology.LeasesBucket)
	if err != nil {
		return TasksResult{}, fmt.Errorf("leases bucket: %w", err)
	}
	log := p.Logger.With("component", "bridge")
	byInterval := map[time.Duration][]bridge.Source{}
	for _, s := range p.Sources {
		if s.Source == nil {
			continue // a source its settings switched off (metrics without InfluxDB)
		}
		byInterval[s.Interval] = append(byInterval[s.Interval], s.Source)
	}
	var intervals []time.Duration
	for d := range byInterval {
		intervals = append(intervals, d)
	}
	sort.Slice(intervals, func(i, j int) bool { return intervals[i] < intervals[j] })
	// The submit and update sources re-publish the same work every poll: their streams' dedupe
	// window must cover a poll and a lease takeover. (A health tick published twice in one
	// interval after a takeover only costs one extra status report.)
	t := p.Topology
	if err := bridge.CheckDedupeWindow(ctx, p.Broker.JS, p.Settings.BridgePoll, p.Settings.LeaseTTL, t.Submit.Stream, t.Update.Stream, t.Metrics.Stream); err != nil {
		return TasksResult{}, err
	}
	elector := bridge.NewElector(kv, "bridge", p.Identity.ID, p.Topology.Limits.LeaseTTL, log)
	lead := func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		for _, d := range intervals {
			poller := bridge.NewPoller(p.Broker.JS, d, log.With("interval", d), byInterval[d]...)
			g.Go(func() error { return poller.Run(ctx) })
		}
		return g.Wait()
	}
	tasks := []Task{{Name: "bridge", Run: func(ctx context.Context) error {
		if len(intervals) == 0 {
			log.Warn("bridge role without any source: nothing to poll")
			<-ctx.Done()
			return nil
		}
		return elector.Run(ctx, lead)
	}}}
	if p.Settings.TaskGCHour != nil {
		gc, err := health.NewGarbageCollector(p.API, health.GCOptions{
			Hour:      *p.Settings.TaskGCHour,
			Pause:     jobsInterval(p.Settings),
			ShouldRun: elector.IsLeader, // one agent per cluster calls them
			Logger:    p.Logger.With("component", "garbage-collection"),
		})
		if err != nil {
			return TasksResult{}, err
		}
		tasks = append(tasks, Task{Name: "garbage-collection", Run: gc.Run})
	}
	return TasksResult{Tasks: tasks}, nil
}
