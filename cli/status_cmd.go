package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/inspect"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// exitUnreachable is the exit code of status and dead when there is nothing to inspect: NATS
// cannot be reached, or no agent ever provisioned its streams there.
const exitUnreachable = 3

// defaultInspectTimeout bounds connecting and every inspection request.
const defaultInspectTimeout = 10 * time.Second

// unreachableError marks connection failures so the commands exit with exitUnreachable.
type unreachableError struct{ error }

func (e unreachableError) Unwrap() error { return e.error }

// statusCmd prints the state of the cluster's agents: streams, consumers, bridge leader, agent
// heartbeats and dead letters. Exit 0 when the state could be read, exitUnreachable when NATS
// cannot be reached or nothing is provisioned, exitConfig on invalid settings.
func statusCmd(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", defaultInspectTimeout, "connect and request timeout")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "Usage: jobbergate-agent status [--json] [--timeout D]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "status: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	ic, code := openInspect(env, *timeout)
	if ic == nil {
		return code
	}
	defer ic.close()
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	r, err := inspect.Collect(cctx, ic.js, ic.topo)
	if err != nil {
		return inspectFailed(env, "status", err)
	}
	if *asJSON {
		err = writeJSON(env, r)
	} else {
		err = inspect.WriteReport(env.stdout, r)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "status: %v\n", err)
		return 1
	}
	return 0
}

// inspectConn is a short-lived client connection to the agents' NATS.
type inspectConn struct {
	b    *broker.Broker
	js   jetstream.JetStream
	topo broker.Topology
}

func (c *inspectConn) close() { _ = c.b.Close(context.Background()) }

// openInspect loads the settings and connects; on failure it prints why and returns the exit code.
func openInspect(env *cliEnv, timeout time.Duration) (*inspectConn, int) {
	s, ok := env.loadOrReport()
	if !ok {
		return nil, exitConfig
	}
	env.printWarnings()
	topo, err := broker.TopologyFor(s)
	if err != nil {
		fmt.Fprintf(env.stderr, "jobbergate-agent: %v\n", err)
		return nil, exitConfig
	}
	ic, err := connectInspect(s, timeout)
	if err != nil {
		fmt.Fprintf(env.stderr, "jobbergate-agent: %v\n", err)
		if errors.As(err, new(unreachableError)) {
			return nil, exitUnreachable
		}
		return nil, exitConfig
	}
	ic.topo = topo
	return ic, 0
}

// connectInspect connects with broker.Connect's options for one attempt, failing at once when
// nothing answers (unlike the agent's own connection, which retries forever): to NATS_URL with
// the agent's credentials and inbox prefix, or else to the embedded server's loopback listener
// NATS_LISTEN of a running agent.
func connectInspect(s *config.Settings, timeout time.Duration) (*inspectConn, error) {
	var copts *broker.ClientOptions
	var target, hint string
	if s.Embedded() {
		if s.NATSListen == "" {
			return nil, unreachableError{errors.New("NATS_LISTEN is off, so the agent's embedded NATS server has no listener to inspect; " +
				"set JOBBERGATE_AGENT_NATS_LISTEN (default 127.0.0.1:4222) and restart the agent, or set NATS_URL")}
		}
		host, port, err := net.SplitHostPort(s.NATSListen)
		if err != nil {
			return nil, fmt.Errorf("NATS_LISTEN %q: %w", s.NATSListen, err)
		}
		if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			host = "127.0.0.1"
		}
		addr := net.JoinHostPort(host, port)
		copts = &broker.ClientOptions{}
		// No token file: no agent ever ran with this CACHE_DIR; the dial below says so.
		token, err := broker.EmbeddedToken(s, false)
		switch {
		case err == nil:
			// The token goes only to the listener the running agent recorded beside it.
			if addr, err = tokenAddr(s); err != nil {
				return nil, err
			}
			copts.Token = token
		case !errors.Is(err, os.ErrNotExist):
			return nil, unreachableError{fmt.Errorf("cannot read the embedded NATS server's token (%w); run this as the agent's user (root), or set NATS_TOKEN", err)}
		}
		copts.URLs = []string{"nats://" + addr}
		target = "the embedded NATS server at " + addr
		hint = "no agent is running here: cannot reach " + target
	} else {
		var err error
		if copts, err = broker.ClientOptionsFor(s); err != nil {
			return nil, err
		}
		var redacted []string
		for _, u := range copts.URLs {
			redacted = append(redacted, redactURL(u))
		}
		target = "NATS at " + strings.Join(redacted, ",")
		hint = "cannot reach " + target
	}
	copts.Once, copts.ConnectTimeout = true, timeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	b, err := broker.Start(ctx, broker.Options{Name: "jobbergate-agent inspect", Client: copts}, logging.Discard())
	switch {
	case errors.Is(err, broker.ErrConnect) && s.Embedded():
		return nil, unreachableError{fmt.Errorf("%s (%w); is the agent running? is NATS_LISTEN off?", hint, err)}
	case errors.Is(err, broker.ErrConnect):
		return nil, unreachableError{fmt.Errorf("%s (%w); check NATS_URL and the NATS credentials", hint, err)}
	case err != nil:
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	return &inspectConn{b: b, js: b.JS}, nil
}

// tokenAddr returns the address to which the embedded server's token may be sent: the one the
// running agent recorded in CACHE_DIR/nats.addr, when NATS_LISTEN names that listener and a
// socket of root (or the caller) listens there. Anything else is an error and nothing is sent.
func tokenAddr(s *config.Settings) (string, error) {
	file := embeddedAddrFile(s)
	recorded, err := readRecordedAddr(s)
	if errors.Is(err, os.ErrNotExist) {
		return "", unreachableError{fmt.Errorf("no agent is running here: %s, where a running agent records its embedded NATS server's address, does not exist "+
			"(the token is sent to no other address; an agent older than this command does not record it: restart it)", file)}
	}
	if err != nil {
		return "", fmt.Errorf("the embedded NATS server's address: %w; the token is not sent", err)
	}
	if !sameListen(s.NATSListen, recorded) {
		return "", fmt.Errorf("NATS_LISTEN %s is not where the running agent's embedded NATS server listens (%s, recorded in %s): "+
			"the token is sent only there; check where these settings come from, or restart the agent with them", s.NATSListen, recorded, file)
	}
	addr := dialAddr(recorded)
	if err := checkListenerOwner(addr); err != nil {
		if errors.Is(err, errNoListener) {
			return "", unreachableError{fmt.Errorf("no agent is running here: nothing listens at %s, recorded in %s", addr, file)}
		}
		return "", fmt.Errorf("%w: it is not the agent's, which has stopped; the token is not sent", err)
	}
	return addr, nil
}

// redactURL hides the password of a server URL so credentials never reach a message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "xxxxx@" + raw[i+1:]
		}
		return raw
	}
	if _, ok := u.User.Password(); !ok && u.User != nil {
		u.User = url.User("xxxxx") // a lone user part may be a token
	}
	return u.Redacted()
}

// inspectFailed prints an inspection error and returns the exit code.
func inspectFailed(env *cliEnv, cmd string, err error) int {
	if errors.Is(err, inspect.ErrNotProvisioned) {
		fmt.Fprintf(env.stderr, "%s: %v: no agent with this NATS_PREFIX has started against this NATS\n", cmd, err)
		return exitUnreachable
	}
	fmt.Fprintf(env.stderr, "%s: %v\n", cmd, err)
	return 1
}

func writeJSON(env *cliEnv, v any) error {
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
