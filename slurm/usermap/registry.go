package usermap

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// Names of the built-in mappers, as used by the SLURM_USER_MAPPER setting.
const (
	SingleUserMapperName = "single-user-mapper"
	LDAPMapperName       = "ldap-cached-mapper"
	CommandMapperName    = "command-mapper"
)

// DefaultMapperName is used when no mapper name is configured.
const DefaultMapperName = SingleUserMapperName

// Options holds the settings of every built-in mapper; a factory reads only its own part.
type Options struct {
	// SingleUser is the user of single-user-mapper (SINGLE_USER_SUBMITTER).
	SingleUser string
	// CacheDir is the agent's cache directory (CACHE_DIR); ldap-cached-mapper keeps its cache
	// there unless LDAP.CacheDir is set.
	CacheDir string
	// LDAP configures ldap-cached-mapper.
	LDAP LDAPConfig
	// Command configures command-mapper.
	Command CommandConfig
}

// Factory builds a mapper from the options. A factory does no network I/O: connections are
// made by the first lookups. The logger is never nil when called through a Registry.
type Factory func(opts Options, logger *slog.Logger) (Mapper, error)

// ErrUnknownMapper matches the error of Registry.New for a name nobody registered.
var ErrUnknownMapper = errors.New("unknown user mapper")

// ErrDuplicateMapper is returned by Registry.Register for a name already registered.
var ErrDuplicateMapper = errors.New("user mapper already registered")

// UnknownMapperError is the error of Registry.New for an unregistered name. Its text is the
// reference agent's: "No user mapper found for the name 'x', available mappers are: a, b".
type UnknownMapperError struct {
	Name      string
	Available []string // sorted
}

func (e *UnknownMapperError) Error() string {
	return fmt.Sprintf("No user mapper found for the name '%s', available mappers are: %s",
		e.Name, strings.Join(e.Available, ", "))
}

// Is makes errors.Is(err, ErrUnknownMapper) true.
func (e *UnknownMapperError) Is(target error) bool { return target == ErrUnknownMapper }

// Registry maps mapper names to factories. It is safe for concurrent use. A site adds its own
// mapper with Register before the agent builds its mapper by name.
type Registry struct {
	mu        sync.RWMutex
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[string]Factory{}}
}

// NewDefaultRegistry returns a registry holding the built-in mappers: single-user-mapper,
// ldap-cached-mapper and command-mapper.
func NewDefaultRegistry() *Registry {
	r := NewRegistry()
	r.factories[SingleUserMapperName] = func(o Options, _ *slog.Logger) (Mapper, error) {
		return NewSingleUser(o.SingleUser)
	}
	r.factories[LDAPMapperName] = func(o Options, l *slog.Logger) (Mapper, error) {
		cfg := o.LDAP
		if cfg.CacheDir == "" {
			cfg.CacheDir = o.CacheDir
		}
		return NewLDAP(cfg, l)
	}
	r.factories[CommandMapperName] = func(o Options, l *slog.Logger) (Mapper, error) {
		return NewCommand(o.Command, l)
	}
	return r
}

// Register adds a factory under name. It fails with ErrDuplicateMapper when the name is taken
// (the first registration wins, as with the reference agent's plugins) and rejects an empty
// name or a nil factory.
func (r *Registry) Register(name string, factory Factory) error {
	if name == "" {
		return errors.New("register user mapper: empty name")
	}
	if factory == nil {
		return fmt.Errorf("register user mapper %q: nil factory", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.factories[name]; ok {
		return fmt.Errorf("register user mapper %q: %w", name, ErrDuplicateMapper)
	}
	r.factories[name] = factory
	return nil
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the mapper registered under name; an empty name means DefaultMapperName. An
// unknown name gives an *UnknownMapperError (matching ErrUnknownMapper). A nil logger discards
// logs. The caller closes the mapper when it implements io.Closer.
func (r *Registry) New(name string, opts Options, logger *slog.Logger) (Mapper, error) {
	if name == "" {
		name = DefaultMapperName
	}
	if logger == nil {
		logger = logging.Discard()
	}
	r.mu.RLock()
	f, ok := r.factories[name]
	r.mu.RUnlock()
	if !ok {
		return nil, &UnknownMapperError{Name: name, Available: r.Names()}
	}
	m, err := f(opts, logger.With("user_mapper", name))
	if err != nil {
		return nil, fmt.Errorf("build user mapper %s: %w", name, err)
	}
	return m, nil
}
