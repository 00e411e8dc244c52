package extend

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

type fixed string

func (f fixed) Username(context.Context, string) (string, error) { return string(f), nil }

func fixedFactory(name string) usermap.Factory {
	return func(usermap.Options, *slog.Logger) (usermap.Mapper, error) { return fixed(name), nil }
}

func TestMappersJoinTheUsermapRegistry(t *testing.T) {
	reg := New()
	if err := reg.Mapper("site-a", fixedFactory("alice")); err != nil {
		t.Fatal(err)
	}
	if err := reg.Mapper("site-b", fixedFactory("bob")); err != nil {
		t.Fatal(err)
	}
	if err := reg.Mapper("site-a", fixedFactory("x")); !errors.Is(err, ErrDuplicate) {
		t.Errorf("second site-a: %v, want ErrDuplicate", err)
	}
	for _, bad := range []struct {
		name string
		f    usermap.Factory
	}{{"", fixedFactory("x")}, {"nil-factory", nil}} {
		if err := reg.Mapper(bad.name, bad.f); err == nil {
			t.Errorf("Mapper(%q) accepted", bad.name)
		}
	}
	if got := strings.Join(reg.MapperNames(), ","); got != "site-a,site-b" {
		t.Errorf("names %q", got)
	}

	um := usermap.NewDefaultRegistry()
	if err := reg.RegisterMappers(um); err != nil {
		t.Fatal(err)
	}
	m, err := um.New("site-b", usermap.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := m.Username(context.Background(), "b@example.org"); u != "bob" {
		t.Errorf("site-b mapped to %q", u)
	}

	clash := New()
	_ = clash.Mapper(usermap.CommandMapperName, fixedFactory("x"))
	if err := clash.RegisterMappers(usermap.NewDefaultRegistry()); !errors.Is(err, usermap.ErrDuplicateMapper) {
		t.Errorf("a built-in name: %v, want usermap.ErrDuplicateMapper", err)
	}
}

func TestTaskValidation(t *testing.T) {
	reg := New()
	noop := func(context.Context) error { return nil }
	if err := reg.Task("a", time.Second, noop); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		run      func(context.Context) error
		dup      bool
	}{
		{name: "", interval: time.Second, run: noop},
		{name: "zero", interval: 0, run: noop},
		{name: "nil", interval: time.Second},
		{name: "a", interval: time.Second, run: noop, dup: true},
	} {
		err := reg.Task(tc.name, tc.interval, tc.run)
		if err == nil || errors.Is(err, ErrDuplicate) != tc.dup {
			t.Errorf("Task(%q, %s): %v", tc.name, tc.interval, err)
		}
	}
	if n := len(reg.Tasks()); n != 1 {
		t.Errorf("%d tasks registered, want 1", n)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	reg := New()
	var mu sync.Mutex
	var trace []string
	note := func(s string) { mu.Lock(); trace = append(trace, s); mu.Unlock() }
	for _, name := range []string{"outer", "inner"} {
		reg.PendingMiddleware(func(next consumers.Handler) consumers.Handler {
			return consumers.HandlerFunc(func(ctx context.Context, m *consumers.Message) consumers.Decision {
				note(name)
				return next.Handle(ctx, m)
			})
		})
		reg.ActiveMiddleware(func(next consumers.BatchHandler) consumers.BatchHandler {
			return consumers.BatchHandlerFunc(func(ctx context.Context, ms []*consumers.Message) []consumers.Decision {
				note("batch-" + name)
				return next.HandleBatch(ctx, ms)
			})
		})
	}
	reg.PendingMiddleware(nil) // ignored
	h := reg.WrapPending(consumers.HandlerFunc(func(context.Context, *consumers.Message) consumers.Decision {
		note("handler")
		return consumers.Terminate("no")
	}))
	if d := h.Handle(context.Background(), &consumers.Message{}); !d.IsTerminate() {
		t.Errorf("decision %s: middleware must pass the handler's decision through", d)
	}
	b := reg.WrapActive(consumers.BatchHandlerFunc(func(_ context.Context, ms []*consumers.Message) []consumers.Decision {
		note("batch-handler")
		return make([]consumers.Decision, len(ms))
	}))
	if ds := b.HandleBatch(context.Background(), make([]*consumers.Message, 3)); len(ds) != 3 {
		t.Errorf("%d decisions for 3 messages", len(ds))
	}
	want := "outer,inner,handler,batch-outer,batch-inner,batch-handler"
	if got := strings.Join(trace, ","); got != want {
		t.Errorf("order %s, want %s", got, want)
	}

	var none *Registry
	h0 := consumers.HandlerFunc(func(context.Context, *consumers.Message) consumers.Decision { return consumers.Ack() })
	if d := none.WrapPending(h0).Handle(context.Background(), nil); !d.IsAck() || none.Tasks() != nil || none.RegisterMappers(nil) != nil {
		t.Error("a nil registry must add nothing")
	}
}

func TestLoopSurvivesErrorsAndPanics(t *testing.T) {
	var calls atomic.Int32
	task := PeriodicTask{Name: "flaky", Interval: 5 * time.Millisecond, Run: func(context.Context) error {
		switch calls.Add(1) {
		case 1:
			return errors.New("disk full")
		case 2:
			panic("boom")
		}
		return nil
	}}
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- task.Loop(ctx, logger) }()
	testenv.Eventually(t, 5*time.Second, func() bool { return calls.Load() >= 4 }, "the task stopped after %d calls", calls.Load())
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Loop returned %v", err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{"site_task=flaky", "disk full", "panic: boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
