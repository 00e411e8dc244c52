package inspect

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// Collect takes a snapshot of topo's streams, consumers, bridge lease, agent heartbeats and dead
// letters. It creates no consumer on a work queue (see the package doc). A missing stream or bucket
// is reported as ErrNotProvisioned; other errors are NATS failures. Unreadable heartbeats or
// lease values are skipped rather than failing the whole report.
func Collect(ctx context.Context, js jetstream.JetStream, topo broker.Topology) (Report, error) {
	r := Report{Prefix: topo.Prefix, CollectedAt: time.Now().UTC()}
	for _, q := range topo.Queues() {
		sr, consumers, err := streamState(ctx, js, q.Stream, q.Kind)
		if err != nil {
			return r, err
		}
		r.Streams = append(r.Streams, sr)
		r.Consumers = append(r.Consumers, consumers...)
	}
	dead, _, err := streamState(ctx, js, topo.Dead, "dead")
	if err != nil {
		return r, err
	}
	r.Streams = append(r.Streams, dead)
	_, adv, err := streamState(ctx, js, topo.Advisories, "advisories")
	if err != nil {
		return r, err
	}
	r.Consumers = append(r.Consumers, adv...)

	if r.Leader, err = leader(ctx, js, topo); err != nil {
		return r, err
	}
	if r.Agents, err = agents(ctx, js, topo); err != nil {
		return r, err
	}
	letters, err := readDead(ctx, js, topo, 0)
	if err != nil {
		return r, err
	}
	r.Dead = summarize(letters)
	return r, nil
}

// streamState returns a stream's state and the info of its durable consumers (ephemeral ones,
// such as another inspector's reader, are left out), sorted by name.
func streamState(ctx context.Context, js jetstream.JetStream, name, kind string) (StreamReport, []ConsumerReport, error) {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return StreamReport{}, nil, fmt.Errorf("%w: stream %s does not exist", ErrNotProvisioned, name)
	}
	if err != nil {
		return StreamReport{}, nil, fmt.Errorf("inspect: stream %s: %w", name, err)
	}
	info := s.CachedInfo()
	sr := StreamReport{Name: name, Kind: kind, Messages: info.State.Msgs, Bytes: info.State.Bytes,
		FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq, Consumers: info.State.Consumers}
	var out []ConsumerReport
	lister := s.ListConsumers(ctx)
	for ci := range lister.Info() {
		if ci.Config.Durable == "" {
			continue
		}
		out = append(out, ConsumerReport{
			Stream: name, Name: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending,
			Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting,
			Delivered: ci.Delivered.Stream, AckFloor: ci.AckFloor.Stream,
			MaxDeliver: ci.Config.MaxDeliver, AckWait: ci.Config.AckWait,
		})
	}
	if err := lister.Err(); err != nil {
		return sr, nil, fmt.Errorf("inspect: consumers of %s: %w", name, err)
	}
	slices.SortFunc(out, func(a, b ConsumerReport) int { return cmp.Compare(a.Name, b.Name) })
	return sr, out, nil
}

func keyValue(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: bucket %s does not exist", ErrNotProvisioned, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect: bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// leader reads the bridge lease; nil when nobody holds it.
func leader(ctx context.Context, js jetstream.JetStream, topo broker.Topology) (*LeaderReport, error) {
	kv, err := keyValue(ctx, js, topo.LeasesBucket)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, LeaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspect: lease %s: %w", LeaseKey, err)
	}
	var v bridge.LeaseValue
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		v.Holder = "(unreadable lease value)"
	}
	lr := &LeaderReport{Holder: v.Holder, Host: v.Host, PID: v.PID, Since: v.Since,
		Renewed: e.Created().UTC(), LeaseAge: since(e.Created())}
	if st, err := kv.Status(ctx); err == nil {
		lr.TTL = st.TTL()
	}
	return lr, nil
}

// agents reads every heartbeat in the agents bucket.
func agents(ctx context.Context, js jetstream.JetStream, topo broker.Topology) ([]AgentReport, error) {
	kv, err := keyValue(ctx, js, topo.AgentsBucket)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("inspect: watch %s: %w", topo.AgentsBucket, err)
	}
	defer func() { _ = w.Stop() }()
	out := []AgentReport{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("inspect: read %s: %w", topo.AgentsBucket, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("inspect: read %s: watcher closed", topo.AgentsBucket)
			}
			if e == nil { // all current values delivered
				slices.SortFunc(out, func(a, b AgentReport) int {
					return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.PID, b.PID))
				})
				return out, nil
			}
			var info broker.AgentInfo
			if err := json.Unmarshal(e.Value(), &info); err != nil {
				continue
			}
			out = append(out, AgentReport{Key: e.Key(), AgentInfo: info, Age: since(info.LastSeen)})
		}
	}
}

// since is the age of t when it is read, never negative: the timestamp may come from another
// host's clock (a heartbeat) or the NATS server's (a lease), and may be refreshed while the report
// is being collected.
func since(t time.Time) time.Duration { return max(0, time.Since(t)) }

func summarize(letters []DeadLetter) DeadSummary {
	byReason, byStream := map[string]int{}, map[string]int{}
	for _, d := range letters {
		byReason[d.Reason]++
		byStream[d.Stream]++
	}
	return DeadSummary{Total: len(letters), ByReason: counts(byReason), ByStream: counts(byStream)}
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{Key: k, Count: n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key)) })
	return out
}
