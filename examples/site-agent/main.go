// Command site-agent is an example of a site's own jobbergate-agent binary: the stock agent plus
// the site's extensions, compiled in. It registers
//
//   - a user mapper, "email-local-part-mapper": alice@example.org runs as the local user alice
//     (select it with JOBBERGATE_AGENT_SLURM_USER_MAPPER=email-local-part-mapper);
//   - a periodic task that touches a stamp file every minute, for the site's monitoring
//     (SITE_AGENT_STAMP_FILE, default /run/jobbergate-agent/alive);
//   - audit middleware that writes one JSON line per pending submission handled (who, which
//     delivery, what was decided) and one per batch of active submissions, to stderr.
//
// Build it with `go build ./examples/site-agent`; it takes the same commands and settings as
// jobbergate-agent.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/cli"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/extend"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// LocalPartMapper is the name the example's mapper is registered under.
const LocalPartMapper = "email-local-part-mapper"

func main() {
	stamp := os.Getenv("SITE_AGENT_STAMP_FILE")
	if stamp == "" {
		stamp = "/run/jobbergate-agent/alive"
	}
	reg, err := newRegistry(siteConfig{AuditOut: os.Stderr, StampFile: stamp, StampEvery: time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, "site-agent:", err)
		os.Exit(1)
	}
	os.Exit(cli.Main(os.Args[1:], cli.WithExtensions(reg)))
}

// siteConfig is what the site's extensions need.
type siteConfig struct {
	AuditOut   io.Writer
	StampFile  string
	StampEvery time.Duration
}

// newRegistry builds the site's extensions.
func newRegistry(c siteConfig) (*extend.Registry, error) {
	reg := extend.New()
	if err := reg.Mapper(LocalPartMapper, func(_ usermap.Options, _ *slog.Logger) (usermap.Mapper, error) {
		return localPart{}, nil
	}); err != nil {
		return nil, err
	}
	if err := reg.Task("stamp", c.StampEvery, func(context.Context) error {
		return touch(c.StampFile)
	}); err != nil {
		return nil, err
	}
	audit := slog.New(slog.NewJSONHandler(c.AuditOut, nil)).With("audit", "site")
	reg.PendingMiddleware(func(next consumers.Handler) consumers.Handler {
		return consumers.HandlerFunc(func(ctx context.Context, msg *consumers.Message) consumers.Decision {
			d := next.Handle(ctx, msg)
			audit.Info("pending submission handled", "submission_id", msg.SubmissionID(),
				"delivery", msg.NumDelivered, "decision", d.String())
			return d
		})
	})
	reg.ActiveMiddleware(func(next consumers.BatchHandler) consumers.BatchHandler {
		return consumers.BatchHandlerFunc(func(ctx context.Context, msgs []*consumers.Message) []consumers.Decision {
			ds := next.HandleBatch(ctx, msgs)
			audit.Info("active submissions checked", "count", len(msgs))
			return ds
		})
	})
	return reg, nil
}

// localPart maps an e-mail to the local user named by its part before the '@'.
type localPart struct{}

func (localPart) Username(_ context.Context, email string) (string, error) {
	name, _, ok := strings.Cut(strings.ToLower(strings.TrimSpace(email)), "@")
	if !ok || usermap.ValidUsername(name) != nil {
		return "", usermap.NotFoundf("no local user for %q: not an e-mail with a valid user name", email)
	}
	if _, err := user.Lookup(name); err != nil {
		return "", usermap.NotFoundf("no local user %q for %s", name, email)
	}
	return name, nil
}

// touch creates path (and its directory) or updates its modification time.
func touch(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("stamp: %w", err)
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err == nil {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("stamp: %w", err)
	}
	return f.Close()
}
