package extend_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/extend"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// localPart maps an e-mail address to its local part: alice@example.org runs as alice.
type localPart struct{}

func (localPart) Username(_ context.Context, email string) (string, error) {
	name, _, ok := strings.Cut(email, "@")
	if !ok || name == "" {
		return "", fmt.Errorf("%w: %q is not an e-mail address", usermap.ErrNotFound, email)
	}
	return name, nil
}

// A site registers its extensions in a Registry and hands it to cli.Main with
// cli.WithExtensions. This example shows what the agent then does with each of them.
func ExampleRegistry() {
	reg := extend.New()

	// A user mapper, selected with JOBBERGATE_AGENT_SLURM_USER_MAPPER=email-local-part.
	_ = reg.Mapper("email-local-part", func(usermap.Options, *slog.Logger) (usermap.Mapper, error) {
		return localPart{}, nil
	})
	// A periodic task, run at start and then every interval beside the agent's own work.
	_ = reg.Task("touch-stamp", time.Minute, func(context.Context) error { return nil })
	// Middleware around the handler of pending submissions.
	reg.PendingMiddleware(func(next consumers.Handler) consumers.Handler {
		return consumers.HandlerFunc(func(ctx context.Context, m *consumers.Message) consumers.Decision {
			d := next.Handle(ctx, m)
			fmt.Printf("audit: submission %s: %s\n", m.SubmissionID(), d)
			return d
		})
	})

	// The agent adds the mappers to its own and builds the one the settings select.
	mappers := usermap.NewDefaultRegistry()
	if err := reg.RegisterMappers(mappers); err != nil {
		fmt.Println(err)
		return
	}
	m, _ := mappers.New("email-local-part", usermap.Options{}, logging.Discard())
	user, _ := m.Username(context.Background(), "alice@example.org")
	fmt.Println("alice@example.org runs as", user)

	for _, t := range reg.Tasks() {
		fmt.Printf("task %s every %s\n", t.Name, t.Interval)
	}

	// It wraps the submit handler with the middleware.
	submit := consumers.HandlerFunc(func(context.Context, *consumers.Message) consumers.Decision { return consumers.Ack() })
	msg := &consumers.Message{Header: map[string][]string{"Jbg-Submission-Id": {"42"}}}
	reg.WrapPending(submit).Handle(context.Background(), msg)

	// A second registration under one name is refused.
	err := reg.Task("touch-stamp", time.Hour, func(context.Context) error { return nil })
	fmt.Println(err, errors.Is(err, extend.ErrDuplicate))
	// Output:
	// alice@example.org runs as alice
	// task touch-stamp every 1m0s
	// audit: submission 42: ack
	// extend: task "touch-stamp": already registered true
}
