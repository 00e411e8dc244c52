package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Broker is a live NATS connection with its JetStream context, and, in embedded mode, the
// in-process server behind it. Conn and JS are safe for concurrent use.
type Broker struct {
	Conn *nats.Conn
	JS   jetstream.JetStream

	server *server.Server
	logger *slog.Logger
}

// Start brings up the broker described by opts: in embedded mode it starts nats-server and
// connects in-process; in client mode it dials the given URLs. The caller must Close it.
func Start(ctx context.Context, opts Options, logger *slog.Logger) (*Broker, error) {
	if (opts.Embedded == nil) == (opts.Client == nil) {
		return nil, errors.New("broker: set exactly one of Options.Embedded and Options.Client")
	}
	name := opts.Name
	if name == "" {
		name = "jobbergate-agent"
	}
	b := &Broker{logger: logger}
	var domain string
	if e := opts.Embedded; e != nil {
		ns, err := newEmbeddedServer(*e, logger)
		if err != nil {
			return nil, err
		}
		b.server = ns
		copts := append(commonOptions(name, logger), nats.InProcessServer(ns))
		if e.Token != "" {
			copts = append(copts, nats.Token(e.Token))
		}
		nc, err := nats.Connect("", copts...)
		if err != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
			return nil, fmt.Errorf("broker: connect in-process: %w", err)
		}
		b.Conn = nc
		logger.Info("embedded nats-server started", "server", ns.Name(), "store_dir", e.StoreDir,
			"listen", b.ClientURL(), "sync_always", e.SyncInterval <= 0)
	} else {
		nc, err := Connect(*opts.Client, name, logger)
		if err != nil {
			return nil, err
		}
		b.Conn = nc
		domain = opts.Client.JetStreamDomain
	}
	var err error
	if domain != "" {
		b.JS, err = jetstream.NewWithDomain(b.Conn, domain)
	} else {
		b.JS, err = jetstream.New(b.Conn)
	}
	if err != nil {
		_ = b.Close(ctx)
		return nil, fmt.Errorf("broker: jetstream context: %w", err)
	}
	return b, nil
}

// Server returns the embedded server, or nil in client mode.
func (b *Broker) Server() *server.Server { return b.server }

// ClientURL returns the embedded server's TCP listener URL (for the nats CLI), or "" when there is
// no listener or the broker is a client.
func (b *Broker) ClientURL() string {
	if b.server == nil || b.server.Addr() == nil {
		return ""
	}
	return b.server.ClientURL()
}

// Close drains the connection (pending acks and publishes are flushed), then shuts the embedded
// server down and waits for it, or until ctx is done. It is safe to call once.
func (b *Broker) Close(ctx context.Context) error {
	var errs []error
	if b.Conn != nil && !b.Conn.IsClosed() {
		closed := make(chan struct{})
		b.Conn.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := b.Conn.Drain(); err != nil {
			b.Conn.Close()
		} else {
			select {
			case <-closed:
			case <-ctx.Done():
				b.Conn.Close()
				errs = append(errs, fmt.Errorf("broker: drain: %w", ctx.Err()))
			}
		}
		b.logger.Info("nats connection closed")
	}
	if b.server != nil {
		b.server.Shutdown()
		done := make(chan struct{})
		go func() { b.server.WaitForShutdown(); close(done) }()
		select {
		case <-done:
			b.logger.Info("embedded nats-server stopped")
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("broker: wait for server shutdown: %w", ctx.Err()))
		}
	}
	return errors.Join(errs...)
}
