package extend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// ErrDuplicate is returned when a mapper or a task name is registered twice in one Registry.
var ErrDuplicate = errors.New("already registered")

// BatchMiddleware wraps a BatchHandler (the update consumer's handler of active submissions)
// with cross-cutting behaviour. It must return one Decision per message, in order.
type BatchMiddleware func(consumers.BatchHandler) consumers.BatchHandler

// Registry collects a site's extensions. Its methods are safe for concurrent use; a nil
// *Registry is an empty one. Register everything before the agent starts: what is added later is
// not seen by an agent already built.
type Registry struct {
	mu      sync.Mutex
	mappers []namedMapper
	tasks   []PeriodicTask
	pending []consumers.Middleware
	active  []BatchMiddleware
}

type namedMapper struct {
	name    string
	factory usermap.Factory
}

// New returns an empty registry.
func New() *Registry { return &Registry{} }

// Mapper registers a user-mapper factory under name. SLURM_USER_MAPPER=name then selects it.
// A name already used by a built-in mapper fails when the agent starts (usermap.ErrDuplicateMapper);
// a name registered twice here fails now with ErrDuplicate.
func (r *Registry) Mapper(name string, factory usermap.Factory) error {
	if name == "" {
		return errors.New("extend: mapper with an empty name")
	}
	if factory == nil {
		return fmt.Errorf("extend: mapper %q: nil factory", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.mappers {
		if m.name == name {
			return fmt.Errorf("extend: mapper %q: %w", name, ErrDuplicate)
		}
	}
	r.mappers = append(r.mappers, namedMapper{name, factory})
	return nil
}

// Task registers a periodic task: run is called once when the agent starts and then every
// interval until the agent stops (ctx is cancelled then). Calls never overlap. An error or a
// panic from run is logged and the task runs again at its next tick: a site's task never stops
// the agent. interval must be positive.
func (r *Registry) Task(name string, interval time.Duration, run func(ctx context.Context) error) error {
	if name == "" {
		return errors.New("extend: task with an empty name")
	}
	if interval <= 0 {
		return fmt.Errorf("extend: task %q: interval must be positive, got %s", name, interval)
	}
	if run == nil {
		return fmt.Errorf("extend: task %q: nil function", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tasks {
		if t.Name == name {
			return fmt.Errorf("extend: task %q: %w", name, ErrDuplicate)
		}
	}
	r.tasks = append(r.tasks, PeriodicTask{Name: name, Interval: interval, Run: run})
	return nil
}

// PendingMiddleware adds middleware around the handler of pending (CREATED) submissions, the
// one that runs sbatch. Middleware registered first is outermost. It runs concurrently (up to
// submit.InFlight(SUBMIT_CONCURRENCY) calls at once, four times SUBMIT_CONCURRENCY:
// the built-in handler bounds only its own Slurm stage by SUBMIT_CONCURRENCY, so middleware
// that runs Slurm commands of its own bounds them itself) and sees every delivery,
// redeliveries included (consumers.Message.NumDelivered tells them apart).
func (r *Registry) PendingMiddleware(mw consumers.Middleware) {
	if mw == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, mw)
}

// ActiveMiddleware adds middleware around the batch handler of active (SUBMITTED or CANCELLED)
// submissions, the one that reads Slurm states and reports them. Middleware registered first is
// outermost. Batches never overlap within one agent.
func (r *Registry) ActiveMiddleware(mw BatchMiddleware) {
	if mw == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active = append(r.active, mw)
}

// RegisterMappers adds the registry's mappers to into, in registration order. It stops at the
// first failure (a name taken by a built-in mapper gives usermap.ErrDuplicateMapper).
func (r *Registry) RegisterMappers(into *usermap.Registry) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	mappers := slices.Clone(r.mappers)
	r.mu.Unlock()
	for _, m := range mappers {
		if err := into.Register(m.name, m.factory); err != nil {
			return fmt.Errorf("site extensions: %w", err)
		}
	}
	return nil
}

// MapperNames returns the names of the registered mappers, in registration order.
func (r *Registry) MapperNames() []string {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.mappers))
	for i, m := range r.mappers {
		out[i] = m.name
	}
	return out
}

// Tasks returns the registered periodic tasks, in registration order.
func (r *Registry) Tasks() []PeriodicTask {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tasks)
}

// WrapPending wraps h with the pending-submission middleware (the first registered outermost).
func (r *Registry) WrapPending(h consumers.Handler) consumers.Handler {
	if r == nil {
		return h
	}
	r.mu.Lock()
	mws := slices.Clone(r.pending)
	r.mu.Unlock()
	return consumers.Chain(h, mws...)
}

// WrapActive wraps h with the active-submission middleware (the first registered outermost).
func (r *Registry) WrapActive(h consumers.BatchHandler) consumers.BatchHandler {
	if r == nil {
		return h
	}
	r.mu.Lock()
	mws := slices.Clone(r.active)
	r.mu.Unlock()
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
