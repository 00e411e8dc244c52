// Package brokertest starts real embedded JetStream servers for tests, in the manner of
// nats-server's own tests: a t.TempDir() store, no TCP listener unless asked, the project's
// streams and buckets provisioned, and everything closed when the test ends.
package brokertest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// Option changes what Start sets up.
type Option func(*config)

type config struct {
	prefix    string
	embedded  broker.EmbeddedOptions
	tune      func(*broker.Limits)
	provision bool
	logger    *slog.Logger
}

// Prefix sets the topology's prefix (default "JBG_T").
func Prefix(p string) Option { return func(c *config) { c.prefix = p } }

// Limits lets the test change the topology's limits (AckWait, MaxDeliver...) before provisioning.
func Limits(tune func(*broker.Limits)) Option { return func(c *config) { c.tune = tune } }

// Listen gives the server a loopback listener on a random port (for the nats CLI, client-mode
// connections or a second process).
func Listen() Option {
	return func(c *config) { c.embedded.NoListen, c.embedded.ListenPort = false, -1 }
}

// SyncInterval sets the file store's fsync interval (default: every write, as in production).
func SyncInterval(d time.Duration) Option { return func(c *config) { c.embedded.SyncInterval = d } }

// Name sets the server name (default "test").
func Name(n string) Option { return func(c *config) { c.embedded.ServerName = n } }

// NoProvision leaves the streams and buckets to the test.
func NoProvision() Option { return func(c *config) { c.provision = false } }

// Logger sets the broker's logger (default: testenv.Logger).
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Start starts an embedded broker with a t.TempDir() store and provisions the topology. The
// broker is closed when tb ends. Failures end the test.
func Start(tb testing.TB, opts ...Option) (*broker.Broker, broker.Topology) {
	tb.Helper()
	c := config{prefix: "JBG_T", provision: true,
		embedded: broker.EmbeddedOptions{StoreDir: tb.TempDir(), ServerName: "test", NoListen: true}}
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = testenv.Logger(tb)
	}
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Options{Embedded: &c.embedded}, c.logger)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close(context.Background()) })
	topo, err := broker.NewTopology(c.prefix)
	if err != nil {
		tb.Fatal(err)
	}
	if c.tune != nil {
		c.tune(&topo.Limits)
	}
	if c.provision {
		if err := broker.Provision(ctx, b.JS, topo); err != nil {
			tb.Fatal(err)
		}
	}
	return b, topo
}

// StreamMsgs returns the number of messages stream name holds.
func StreamMsgs(tb testing.TB, js jetstream.JetStream, name string) uint64 {
	tb.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs
}

// DeadLetters returns the reasons of the dead letters in stream dead, by submission id.
func DeadLetters(tb testing.TB, js jetstream.JetStream, dead string) map[string]string {
	tb.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, dead)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		out[m.Header.Get(broker.HeaderSubmissionID)] = m.Header.Get(broker.HeaderDeadReason)
	}
	return out
}
