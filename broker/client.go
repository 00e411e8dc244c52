package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
)

// ErrNoURL is returned by Connect when ClientOptions has no server URL.
var ErrNoURL = errors.New("broker: no NATS server URL")

// ErrConnect wraps the error of a connection attempt that failed (nothing answered, TLS or
// authentication refused), as opposed to options that are wrong before anything is dialled.
var ErrConnect = errors.New("broker: connect")

// Connect dials an existing NATS deployment: it is the one place where the agent and its
// commands build a client connection (credentials, TLS, inbox prefix). The connection
// reconnects forever with capped exponential backoff and jitter (it also retries a failed first
// connect in the background, so Connect returns as soon as the options are valid), unless
// opts.Once asks for a single attempt. It logs every state change (connected, disconnected,
// reconnected, failed attempts, closed, async errors); URLs are logged redacted and credentials never.
func Connect(opts ClientOptions, name string, logger *slog.Logger) (*nats.Conn, error) {
	if len(opts.URLs) == 0 {
		return nil, ErrNoURL
	}
	natsOpts, err := clientAuthOptions(opts)
	if err != nil {
		return nil, err
	}
	natsOpts = append(natsOpts, commonOptions(name, logger)...)
	if opts.ConnectTimeout > 0 {
		natsOpts = append(natsOpts, nats.Timeout(opts.ConnectTimeout))
	}
	if opts.Once {
		natsOpts = append(natsOpts, nats.NoReconnect())
	} else {
		natsOpts = append(natsOpts,
			nats.RetryOnFailedConnect(true),
			nats.CustomReconnectDelay(reconnectDelay(opts.ReconnectWait, opts.MaxReconnectWait)),
		)
	}
	nc, err := nats.Connect(strings.Join(opts.URLs, ","), natsOpts...)
	if err != nil {
		// nats.go errors do not carry credentials; URLs may, so do not echo them.
		return nil, fmt.Errorf("%w to %d NATS URL(s): %w", ErrConnect, len(opts.URLs), err)
	}
	return nc, nil
}

func clientAuthOptions(opts ClientOptions) ([]nats.Option, error) {
	var out []nats.Option
	n := 0
	if opts.User != "" || opts.Password != "" {
		n++
		out = append(out, nats.UserInfo(opts.User, opts.Password))
	}
	if opts.Token != "" {
		n++
		out = append(out, nats.Token(opts.Token))
	}
	if opts.NKeySeedFile != "" {
		n++
		o, err := nats.NkeyOptionFromSeed(opts.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("broker: read nkey seed file %s: %w", opts.NKeySeedFile, err)
		}
		out = append(out, o)
	}
	if opts.CredsFile != "" {
		n++
		out = append(out, nats.UserCredentials(opts.CredsFile))
	}
	if n > 1 {
		return nil, errors.New("broker: set only one of user/password, token, nkey seed file and creds file")
	}
	if opts.InboxPrefix != "" {
		out = append(out, nats.CustomInboxPrefix(opts.InboxPrefix))
	}
	if opts.CAFile != "" {
		out = append(out, nats.RootCAs(opts.CAFile))
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("broker: client certificate needs both a cert file and a key file")
	}
	if opts.CertFile != "" {
		out = append(out, nats.ClientCert(opts.CertFile, opts.KeyFile))
	}
	return out, nil
}

// commonOptions are the options of every agent connection: never give up reconnecting, log every
// state change.
func commonOptions(name string, logger *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ConnectHandler(func(nc *nats.Conn) {
			logger.Info("nats connected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			logger.Warn("nats disconnected", "error", err)
		}),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) {
			// Also the failed first connects (RetryOnFailedConnect): the agent says it waits.
			logger.Warn("nats connect attempt failed; retrying", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			logger.Info("nats connection closed")
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Error("nats async error", "subject", subject, "error", err)
		}),
	}
}

// reconnectDelay returns capped exponential backoff with up to 50 % jitter ("equal jitter").
func reconnectDelay(base, limit time.Duration) nats.ReconnectDelayHandler {
	if base <= 0 {
		base = time.Second
	}
	if limit <= 0 {
		limit = 30 * time.Second
	}
	p := backoff.Policy{Initial: base, Max: limit, Jitter: backoff.Equal}
	return p.Delay
}
