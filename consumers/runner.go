package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
)

// ErrNoDeadSubject is returned by Run when Config.DeadSubject is empty: the runner refuses to
// run without somewhere to put poison messages.
var ErrNoDeadSubject = errors.New("consumers: no dead-letter subject configured")

// Config configures a Runner. Stream, Consumer and DeadSubject are required.
type Config struct {
	// Stream and Consumer name the durable pull consumer to bind (it must exist: see
	// broker.Provision).
	Stream, Consumer string
	// DeadSubject is where dead letters are published (a subject of the DEAD stream).
	DeadSubject string
	// AdvisoryStream and AdvisoryConsumer name the durable consumer of this queue's
	// MAX_DELIVERIES advisories; when set the runner also runs the reaper (see package doc).
	AdvisoryStream, AdvisoryConsumer string

	// Concurrency is the number of messages in flight in this process (default 1). In batch
	// mode it is the maximum batch size.
	Concurrency int
	// FetchWait bounds one pull request (default 1 s); shutdown waits at most this long for
	// the fetch loop to notice.
	FetchWait time.Duration
	// HeartbeatInterval is how often InProgress is sent for a message being handled (default a
	// third of the consumer's AckWait).
	HeartbeatInterval time.Duration
	// Backoff computes Retry delays.
	Backoff Backoff
	// ShutdownGrace is how long Run waits for in-flight handlers after ctx is cancelled
	// (default 10 s); then it cancels their context and naks them with ShutdownNakDelay
	// (default 1 s) so another process picks them up soon.
	ShutdownGrace, ShutdownNakDelay time.Duration
	// AckTimeout bounds DoubleAck and dead-letter publishes (default 5 s).
	AckTimeout time.Duration
}

// ConfigFor returns the Config for work queue q of topology t, with concurrency n.
func ConfigFor(t broker.Topology, q broker.WorkQueue, n int) Config {
	return Config{
		Stream: q.Stream, Consumer: q.Consumer, DeadSubject: q.DeadSubject,
		AdvisoryStream: t.Advisories, AdvisoryConsumer: q.AdvisoryConsumer,
		Concurrency: n,
	}
}

func (c *Config) setDefaults(ackWait time.Duration) {
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.FetchWait <= 0 {
		c.FetchWait = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = ackWait / 3
		if c.HeartbeatInterval <= 0 {
			c.HeartbeatInterval = 10 * time.Second
		}
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.ShutdownNakDelay <= 0 {
		c.ShutdownNakDelay = time.Second
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 5 * time.Second
	}
}

// Runner runs a Handler (or BatchHandler) on a durable pull consumer. One Runner per consumer per
// process; any number of processes may run a Runner on the same consumer (work-queue semantics:
// each message goes to one of them). Run may be called once.
type Runner struct {
	js      jetstream.JetStream
	cfg     Config
	handler Handler
	batch   BatchHandler
	logger  *slog.Logger

	maxDeliver int

	mu       sync.Mutex
	inflight map[*inflight]struct{}
}

// inflight is one message being handled; settle runs at most once so a decision that arrives
// after shutdown already nak'ed the message is ignored.
type inflight struct {
	msg  jetstream.Msg
	once sync.Once
}

// NewRunner returns a runner that hands each message to h (wrapped by mws, first outermost).
func NewRunner(js jetstream.JetStream, cfg Config, h Handler, logger *slog.Logger, mws ...Middleware) *Runner {
	return &Runner{js: js, cfg: cfg, handler: Chain(h, mws...), logger: logger, inflight: map[*inflight]struct{}{}}
}

// NewBatchRunner returns a runner that hands batches of up to cfg.Concurrency messages to h.
func NewBatchRunner(js jetstream.JetStream, cfg Config, h BatchHandler, logger *slog.Logger) *Runner {
	return &Runner{js: js, cfg: cfg, batch: h, logger: logger, inflight: map[*inflight]struct{}{}}
}

// Run binds the consumer and handles messages until ctx is cancelled. It then stops fetching,
// waits up to ShutdownGrace for in-flight handlers, naks the rest with ShutdownNakDelay, and
// returns nil. It returns an error only if the consumer cannot be bound.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfg.DeadSubject == "" {
		return ErrNoDeadSubject
	}
	cons, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Consumer)
	if err != nil {
		return fmt.Errorf("consumers: bind %s/%s: %w", r.cfg.Stream, r.cfg.Consumer, err)
	}
	info := cons.CachedInfo()
	r.maxDeliver = info.Config.MaxDeliver
	r.cfg.setDefaults(info.Config.AckWait)
	log := r.logger.With("stream", r.cfg.Stream, "consumer", r.cfg.Consumer)

	// Handlers outlive ctx by up to ShutdownGrace; Stopping tells them when ctx is done.
	hctx, cancelHandlers := context.WithCancel(WithStopping(context.WithoutCancel(ctx), ctx.Done()))
	defer cancelHandlers()

	var reaperDone chan struct{}
	if r.cfg.AdvisoryConsumer != "" {
		reaperDone = make(chan struct{})
		go func() {
			defer close(reaperDone)
			r.reap(ctx, log)
		}()
	}

	log.Info("consumer runner started", "concurrency", r.cfg.Concurrency, "batch", r.batch != nil,
		"max_deliver", r.maxDeliver, "ack_wait", info.Config.AckWait)
	var wg sync.WaitGroup
	slots := make(chan struct{}, r.cfg.Concurrency)
	for ctx.Err() == nil {
		n := r.acquire(ctx, slots)
		if n == 0 {
			break
		}
		if r.batch == nil {
			// Dispatch each message as it arrives; release the slots the pull did not fill.
			got := 0
			err := r.fetchEach(cons, n, func(m jetstream.Msg) {
				got++
				wg.Add(1)
				go func() {
					defer wg.Done()
					var once sync.Once
					free := func() { once.Do(func() { release(slots, 1) }) }
					defer free()
					r.handleOne(withSlot(hctx, free), m)
				}()
			})
			release(slots, n-got)
			if err != nil && ctx.Err() == nil {
				log.Warn("fetch failed", "error", err)
				_ = backoff.Wait(ctx, r.cfg.FetchWait)
			}
			continue
		}
		msgs, err := r.fetchBatch(cons, n)
		release(slots, n-len(msgs))
		if err != nil && ctx.Err() == nil {
			log.Warn("fetch failed", "error", err)
			if len(msgs) == 0 {
				_ = backoff.Wait(ctx, r.cfg.FetchWait)
			}
		}
		if len(msgs) > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer release(slots, len(msgs))
				r.handleBatch(hctx, msgs)
			}()
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.cfg.ShutdownGrace):
		r.abandonInflight(log)
		cancelHandlers()
	}
	if reaperDone != nil {
		<-reaperDone
	}
	log.Info("consumer runner stopped")
	return nil
}

// acquire waits for one free slot, then takes as many more as are free (all of them in batch
// mode, so batches never overlap). It returns 0 when ctx is done.
func (r *Runner) acquire(ctx context.Context, slots chan struct{}) int {
	want := 1
	if r.batch != nil {
		want = cap(slots)
	}
	n := 0
	for n < want {
		select {
		case slots <- struct{}{}:
			n++
		case <-ctx.Done():
			release(slots, n)
			return 0
		}
	}
	for n < cap(slots) {
		select {
		case slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func release(slots chan struct{}, n int) {
	for range n {
		<-slots
	}
}

// fetchEach pulls up to n messages, waiting up to FetchWait, and calls fn for each as it arrives.
func (r *Runner) fetchEach(cons jetstream.Consumer, n int, fn func(jetstream.Msg)) error {
	b, err := cons.Fetch(n, jetstream.FetchMaxWait(r.cfg.FetchWait))
	if err != nil {
		return err
	}
	for m := range b.Messages() {
		fn(m)
	}
	return batchErr(b)
}

func batchErr(b jetstream.MessageBatch) error {
	if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
		return err
	}
	return nil
}

// fetchBatch pulls up to n messages for a batch handler: what is available at once, or else it
// waits up to FetchWait for a first message and adds what else is available, so a batch is
// never held back waiting to fill up.
func (r *Runner) fetchBatch(cons jetstream.Consumer, n int) ([]jetstream.Msg, error) {
	collect := func(b jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
		if err != nil {
			return nil, err
		}
		var out []jetstream.Msg
		for m := range b.Messages() {
			out = append(out, m)
		}
		return out, batchErr(b)
	}
	msgs, err := collect(cons.FetchNoWait(n))
	if len(msgs) > 0 || err != nil {
		return msgs, err
	}
	first, err := collect(cons.Fetch(1, jetstream.FetchMaxWait(r.cfg.FetchWait)))
	if len(first) == 0 || err != nil || n == 1 {
		return first, err
	}
	rest, err := collect(cons.FetchNoWait(n - 1))
	return append(first, rest...), err
}

func (r *Runner) track(m jetstream.Msg) *inflight {
	f := &inflight{msg: m}
	r.mu.Lock()
	r.inflight[f] = struct{}{}
	r.mu.Unlock()
	return f
}

func (r *Runner) untrack(f *inflight) {
	r.mu.Lock()
	delete(r.inflight, f)
	r.mu.Unlock()
}

// abandonInflight naks every message whose handler did not finish within the grace period.
func (r *Runner) abandonInflight(log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for f := range r.inflight {
		f.once.Do(func() {
			if err := f.msg.NakWithDelay(r.cfg.ShutdownNakDelay); err != nil {
				log.Warn("shutdown nak failed", "subject", f.msg.Subject(), "error", err)
			} else {
				log.Warn("handler still running at shutdown: message nak'ed for redelivery",
					"subject", f.msg.Subject(), "submission_id", f.msg.Headers().Get(broker.HeaderSubmissionID))
			}
		})
	}
}

// heartbeat sends InProgress for msgs every HeartbeatInterval until the returned stop is called.
func (r *Runner) heartbeat(msgs []*inflight) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, f := range msgs {
					if err := f.msg.InProgress(); err != nil {
						r.logger.Warn("in-progress heartbeat failed", "subject", f.msg.Subject(), "error", err)
					}
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *Runner) toMessage(m jetstream.Msg) (*Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("consumers: message metadata: %w", err)
	}
	return &Message{
		Subject: m.Subject(), Data: m.Data(), Header: m.Headers(),
		Stream: md.Stream, Sequence: md.Sequence.Stream, NumDelivered: md.NumDelivered,
		MaxDeliver: r.maxDeliver, Published: md.Timestamp,
	}, nil
}

func (r *Runner) handleOne(ctx context.Context, m jetstream.Msg) {
	msg, err := r.toMessage(m)
	if err != nil {
		// Not a JetStream delivery; nothing can be acked. Should never happen on a pull consumer.
		r.logger.Error("dropping message without JetStream metadata", "subject", m.Subject(), "error", err)
		return
	}
	f := r.track(m)
	defer r.untrack(f)
	stop := r.heartbeat([]*inflight{f})
	dec := r.safeHandle(ctx, msg)
	stop()
	r.settle(f, msg, dec)
}

func (r *Runner) handleBatch(ctx context.Context, ms []jetstream.Msg) {
	var (
		msgs []*Message
		fs   []*inflight
	)
	for _, m := range ms {
		msg, err := r.toMessage(m)
		if err != nil {
			r.logger.Error("dropping message without JetStream metadata", "subject", m.Subject(), "error", err)
			continue
		}
		msgs = append(msgs, msg)
		f := r.track(m)
		defer r.untrack(f)
		fs = append(fs, f)
	}
	stop := r.heartbeat(fs)
	decs := r.safeHandleBatch(ctx, msgs)
	stop()
	for i := range msgs {
		r.settle(fs[i], msgs[i], decs[i])
	}
}

func (r *Runner) safeHandle(ctx context.Context, msg *Message) (dec Decision) {
	defer func() {
		if p := recover(); p != nil {
			r.logger.Error("handler panicked", "subject", msg.Subject, "submission_id", msg.SubmissionID(),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			dec = Retry(fmt.Errorf("handler panic: %v", p))
		}
	}()
	return r.handler.Handle(ctx, msg)
}

func (r *Runner) safeHandleBatch(ctx context.Context, msgs []*Message) (decs []Decision) {
	retryAll := func(err error) []Decision {
		out := make([]Decision, len(msgs))
		for i := range out {
			out[i] = Retry(err)
		}
		return out
	}
	defer func() {
		if p := recover(); p != nil {
			r.logger.Error("batch handler panicked", "batch", len(msgs), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			decs = retryAll(fmt.Errorf("batch handler panic: %v", p))
		}
	}()
	decs = r.batch.HandleBatch(ctx, msgs)
	if len(decs) != len(msgs) {
		r.logger.Error("batch handler returned the wrong number of decisions", "batch", len(msgs), "decisions", len(decs))
		return retryAll(fmt.Errorf("batch handler returned %d decisions for %d messages", len(decs), len(msgs)))
	}
	return decs
}
