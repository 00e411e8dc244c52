package fxmodules

import (
	"io"
	"log/slog"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// Slurm provides the Slurm client, the user-mapper registry (a site decorates it to add its own
// mappers) and the mapper SLURM_USER_MAPPER names.
var Slurm = fx.Module("slurm", fx.Provide(newSlurm, usermap.NewDefaultRegistry, newMapper))

// stateSessions is how many long-lived scontrol processes read job states: each saves a process
// start per read (the submit path reads every new job's state), and two keep up with the
// default SUBMIT_CONCURRENCY (a read takes a few milliseconds, sbatch ten times more).
const stateSessions = 2

// SlurmOptions maps the settings to the Slurm client's options: the five command paths
// (SQUEUE_PATH and SACCT_PATH default to SCONTROL_PATH's directory, see config), the group and
// root rules, and the state-reading sessions.
func SlurmOptions(s *config.Settings, logger *slog.Logger) slurm.Options {
	return slurm.Options{
		SbatchPath: s.SbatchPath, SqueuePath: s.SqueuePath, ScontrolPath: s.ScontrolPath,
		ScancelPath: s.ScancelPath, SacctPath: s.SacctPath,
		GetExtraGroups: s.GetExtraGroups, AllowRoot: s.AllowRootSubmit,
		StateSessions: stateSessions, LocalReads: true, Logger: logger.With("component", "slurm"),
	}
}

func newSlurm(lc fx.Lifecycle, s *config.Settings, logger *slog.Logger) (*slurm.Client, error) {
	c, err := slurm.New(SlurmOptions(s, logger))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(c.Close))
	return c, nil
}

// MapperOptions maps the settings to the user mappers' options.
func MapperOptions(s *config.Settings) usermap.Options {
	return usermap.Options{
		SingleUser: s.SingleUserSubmitter,
		CacheDir:   s.CacheDir,
		LDAP: usermap.LDAPConfig{
			Host: s.LDAPDomain, Port: s.LDAPPort, BindDN: s.LDAPBindDN, Password: s.LDAPPassword,
			SearchBase: s.LDAPSearchBase, UIDAttribute: s.LDAPUIDAttribute, TLSMode: s.LDAPTLSMode,
			CAFile: s.LDAPCAFile, DialTimeout: s.LDAPTimeout, RequestTimeout: s.LDAPTimeout,
			CacheTTL: s.LDAPCacheTTL,
		},
		Command: usermap.CommandConfig{Program: s.CommandMapperPath, Timeout: s.CommandMapperTimeout, CacheTTL: s.CommandMapperCacheTTL},
	}
}

func newMapper(lc fx.Lifecycle, reg *usermap.Registry, s *config.Settings, logger *slog.Logger) (usermap.Mapper, error) {
	m, err := reg.New(s.SlurmUserMapper, MapperOptions(s), logger.With("component", "usermap"))
	if err != nil {
		return nil, err
	}
	if c, ok := m.(io.Closer); ok {
		lc.Append(fx.StopHook(c.Close))
	}
	return m, nil
}
