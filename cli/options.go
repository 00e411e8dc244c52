package cli

import (
	"github.com/omnivector-solutions/jobbergate-agent-go/extend"
)

// Option changes how the command builds the agent.
type Option func(*options)

type options struct {
	ext *extend.Registry
}

// WithExtensions compiles a site's extensions into the agent that `run` starts: its user
// mappers (selectable with SLURM_USER_MAPPER), periodic tasks and submit/update middleware.
// The registry must not be changed once Main has been called.
func WithExtensions(reg *extend.Registry) Option {
	return func(o *options) { o.ext = reg }
}
