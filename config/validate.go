package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// Mapper names known to the reference and this agent.
const (
	MapperSingleUser = "single-user-mapper"
	MapperLDAP       = "ldap-cached-mapper"
	MapperCommand    = "command-mapper"
)

// derive fills the values that depend on others, as the reference's compute_extra_settings does.
func (s *Settings) derive() {
	if s.SingleUserSubmitter == "" {
		s.SingleUserSubmitter = s.XSlurmUserName
	}
	if s.SlurmUserMapper == "" {
		s.SlurmUserMapper = MapperSingleUser
	}
	// squeue and sacct, which the reference does not run, are where the site's scontrol is: a
	// site that moved SCONTROL_PATH (Slurm under /opt) need not name them too.
	slurmDir := "/usr/bin"
	if filepath.IsAbs(s.ScontrolPath) {
		slurmDir = filepath.Dir(s.ScontrolPath)
	}
	if s.SqueuePath == "" {
		s.SqueuePath = filepath.Join(slurmDir, "squeue")
	}
	if s.SacctPath == "" {
		s.SacctPath = filepath.Join(slurmDir, "sacct")
	}
	if s.NATSStoreDir == "" && s.CacheDir != "" {
		s.NATSStoreDir = filepath.Join(s.CacheDir, "nats")
	}
	if s.NATSPrefix == "" {
		s.NATSPrefix = prefixFrom(s.OIDCClientID)
	}
	if strings.EqualFold(s.NATSListen, "off") || strings.EqualFold(s.NATSListen, "none") {
		s.NATSListen = ""
	}
	if strings.EqualFold(s.MetricsListen, "off") || strings.EqualFold(s.MetricsListen, "none") {
		s.MetricsListen = ""
	}
}

var prefixChars = regexp.MustCompile(`[^A-Za-z0-9]+`)

// prefixFrom turns a client id into a stream-name prefix: "JBG_" + the id's letters and digits,
// upper-cased, with other runs of characters replaced by "_".
func prefixFrom(clientID string) string {
	p := strings.Trim(prefixChars.ReplaceAllString(clientID, "_"), "_")
	if p == "" {
		p = "AGENT"
	}
	return "JBG_" + strings.ToUpper(p)
}

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validate returns one line per problem, each starting with the variable's name.
func (s *Settings) validate() Problems {
	var p Problems
	bad := func(name, format string, args ...any) {
		p = append(p, fmt.Sprintf("%s%s: %s", Prefix, name, fmt.Sprintf(format, args...)))
	}
	for _, c := range []struct{ name, path string }{
		{"SBATCH_PATH", s.SbatchPath}, {"SCONTROL_PATH", s.ScontrolPath},
		{"SCANCEL_PATH", s.ScancelPath}, {"SQUEUE_PATH", s.SqueuePath}, {"SACCT_PATH", s.SacctPath},
	} {
		if !filepath.IsAbs(c.path) {
			bad(c.name, "must be an absolute path to an existing file, got %q", c.path)
		}
	}
	if s.MaxPagesPerCycle < 1 {
		bad("MAX_PAGES_PER_CYCLE", "must be at least 1, got %d", s.MaxPagesPerCycle)
	}
	if s.ItemsPerPage < 1 || s.ItemsPerPage > 100 {
		bad("ITEMS_PER_PAGE", "must be between 1 and 100, got %d", s.ItemsPerPage)
	}
	if s.RequestsTimeout != nil && *s.RequestsTimeout < 0 {
		bad("REQUESTS_TIMEOUT", "must be a number of seconds >= 0 (0 or none: no timeout), got %d", *s.RequestsTimeout)
	}
	if u, err := url.Parse(s.BaseAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("BASE_API_URL", "must be an http:// or https:// URL, got %q", RedactURLs(s.BaseAPIURL))
	}
	if s.OIDCDomain == "" || strings.Contains(s.OIDCDomain, "://") {
		bad("OIDC_DOMAIN", "must be a host and path without a scheme (e.g. auth.example.org/realms/hpc), got %q", s.OIDCDomain)
	}
	if s.OIDCClientID == "" {
		bad("OIDC_CLIENT_ID", "must not be empty")
	}
	// An invalid SENTRY_DSN does not stop the agent: it says so at start and reports nothing
	// (fxmodules' Sentry reporter), as error reporting is not what the agent is for.
	for _, r := range []struct {
		name string
		v    float64
	}{{"SENTRY_TRACES_SAMPLE_RATE", s.SentryTracesSampleRate}, {"SENTRY_SAMPLE_RATE", s.SentrySampleRate}, {"SENTRY_PROFILING_SAMPLE_RATE", s.SentryProfilingSampleRate}} {
		if r.v < 0 || r.v > 1 {
			bad(r.name, "must be between 0 and 1, got %g", r.v)
		}
	}
	if s.CacheDir == "" {
		bad("CACHE_DIR", "must not be empty")
	}
	if s.TaskJobsInterval < 10 || s.TaskJobsInterval > 3600 {
		bad("TASK_JOBS_INTERVAL_SECONDS", "must be between 10 and 3600, got %d", s.TaskJobsInterval)
	}
	if s.TaskSelfUpdateSeconds != nil && *s.TaskSelfUpdateSeconds < 10 {
		bad("TASK_SELF_UPDATE_INTERVAL_SECONDS", "must be at least 10, got %d", *s.TaskSelfUpdateSeconds)
	}
	if s.TaskGCHour != nil && (*s.TaskGCHour < 0 || *s.TaskGCHour > 23) {
		bad("TASK_GARBAGE_COLLECTION_HOUR", "must be an hour between 0 and 23, got %d", *s.TaskGCHour)
	}

	if s.MaxFileBytes < 1 || s.MaxFileBytes > 1<<30 {
		bad("MAX_FILE_BYTES", "must be between 1 and 1073741824 (1 GiB), got %d", s.MaxFileBytes)
	}
	if s.MinSubmitUID < 0 || s.MinSubmitUID > 1<<31 {
		bad("MIN_SUBMIT_UID", "must be a uid between 0 and 2147483648, got %d", s.MinSubmitUID)
	}
	for _, d := range s.SharedExecutionDirs {
		if !filepath.IsAbs(d) || filepath.Clean(d) == "/" || strings.IndexFunc(d, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			bad("SHARED_EXECUTION_DIRS", "%q must be an absolute path other than /", d)
		}
	}

	switch s.SlurmUserMapper {
	case MapperLDAP:
		for _, r := range []struct{ name, v string }{{"LDAP_DOMAIN", s.LDAPDomain}, {"LDAP_PASSWORD", s.LDAPPassword}, {"LDAP_BIND_DN", s.LDAPBindDN}, {"LDAP_SEARCH_BASE", s.LDAPSearchBase}} {
			if r.v == "" {
				bad(r.name, "is required by %s", MapperLDAP)
			}
		}
		if s.LDAPTLSMode != "ldaps" && s.LDAPTLSMode != "starttls" && s.LDAPTLSMode != "plain" {
			bad("LDAP_TLS_MODE", "must be ldaps, starttls or plain, got %q", s.LDAPTLSMode)
		}
		if s.LDAPPort < 1 || s.LDAPPort > 65535 {
			bad("LDAP_PORT", "must be a port between 1 and 65535, got %d", s.LDAPPort)
		}
	case MapperCommand:
		if !filepath.IsAbs(s.CommandMapperPath) {
			bad("COMMAND_MAPPER_PATH", "is required by %s and must be an absolute path, got %q", MapperCommand, s.CommandMapperPath)
		}
	}

	if s.InfluxDSN != "" {
		if s.InfluxSSL && s.InfluxCertPath == "" {
			bad("INFLUX_CERT_PATH", "is required when INFLUX_SSL is true")
		}
		u, err := url.Parse(s.InfluxDSN)
		switch {
		case err != nil:
			bad("INFLUX_DSN", "is not a valid URL")
		case u.Scheme != "influxdb" && u.Scheme != "https+influxdb" && u.Scheme != "udp+influxdb":
			bad("INFLUX_DSN", "scheme %q is not supported: use influxdb://, https+influxdb:// or udp+influxdb://", u.Scheme)
		case u.Host == "":
			bad("INFLUX_DSN", "has no host")
		}
	}
	if s.InfluxFluxURL != "" {
		if s.InfluxDSN != "" {
			bad("INFLUX_FLUX_URL", "set either INFLUX_DSN (InfluxQL) or INFLUX_FLUX_URL (Flux), not both")
		}
		if u, err := url.Parse(s.InfluxFluxURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("INFLUX_FLUX_URL", "must be an http:// or https:// URL, got %q", RedactURLs(s.InfluxFluxURL))
		}
	}
	if s.InfluxPoolSize < 1 {
		bad("INFLUX_POOL_SIZE", "must be at least 1, got %d", s.InfluxPoolSize)
	}
	if s.InfluxTimeout != nil && *s.InfluxTimeout < 1 {
		bad("INFLUX_TIMEOUT", "must be at least 1, got %d", *s.InfluxTimeout)
	}
	if s.InfluxUDPPort < 1 || s.InfluxUDPPort > 65535 {
		bad("INFLUX_UDP_PORT", "must be a port between 1 and 65535, got %d", s.InfluxUDPPort)
	}

	if s.NATSURL != "" {
		for _, raw := range strings.Split(s.NATSURL, ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
				bad("NATS_URL", "%q is not a nats://, tls://, ws:// or wss:// URL", RedactURLs(raw))
			}
		}
	}
	if s.NATSListen != "" {
		if _, port, err := net.SplitHostPort(s.NATSListen); err != nil || port == "" {
			bad("NATS_LISTEN", "must be host:port or off, got %q", s.NATSListen)
		}
	}
	if s.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(s.MetricsListen); err != nil || port == "" {
			bad("METRICS_LISTEN", "must be host:port or off, got %q", s.MetricsListen)
		}
	}
	if (s.NATSUser == "") != (s.NATSPassword == "") {
		bad("NATS_PASSWORD", "NATS_USER and NATS_PASSWORD go together")
	}
	if s.NATSLeafRemote != "" && s.NATSDomain == "" {
		bad("NATS_DOMAIN", "is required with NATS_LEAF_REMOTE (a leaf with JetStream needs its own domain)")
	}
	if s.NATSReplicas < 1 || s.NATSReplicas > 5 {
		bad("NATS_REPLICAS", "must be between 1 and 5, got %d", s.NATSReplicas)
	}
	if !validPrefix.MatchString(s.NATSPrefix) {
		bad("NATS_PREFIX", "may hold only letters, digits, _ and -, got %q", s.NATSPrefix)
	}
	if len(s.Roles) == 0 {
		bad("ROLES", "must name at least one of bridge, submit, update, metrics, health")
	}
	for _, r := range s.Roles {
		switch r {
		case RoleBridge, RoleSubmit, RoleUpdate, RoleMetrics, RoleHealth:
		default:
			bad("ROLES", "unknown role %q (known: bridge, submit, update, metrics, health)", r)
		}
	}
	if s.SubmitConc < 1 || s.SubmitConc > 256 {
		bad("SUBMIT_CONCURRENCY", "must be between 1 and 256, got %d", s.SubmitConc)
	}
	if s.OwnerConc < 0 || s.OwnerConc > 256 {
		bad("OWNER_SUBMIT_CONCURRENCY", "must be between 0 (half of SUBMIT_CONCURRENCY) and 256, got %d", s.OwnerConc)
	}
	if s.UpdateBatch < 1 || s.UpdateBatch > 10000 {
		bad("UPDATE_BATCH_SIZE", "must be between 1 and 10000, got %d", s.UpdateBatch)
	}
	if s.UpdateRefresh < 1 {
		bad("UPDATE_REFRESH_CYCLES", "must be at least 1, got %d", s.UpdateRefresh)
	}
	if s.MetricsConc < 1 || s.MetricsConc > 64 {
		bad("METRICS_CONCURRENCY", "must be between 1 and 64, got %d", s.MetricsConc)
	}
	if s.BridgePoll < 1e9 {
		bad("BRIDGE_POLL_INTERVAL", "must be at least 1s, got %s", s.BridgePoll)
	}
	if s.LeaseTTL < 3e9 {
		bad("BRIDGE_LEASE_TTL", "must be at least 3s, got %s", s.LeaseTTL)
	}
	switch strings.ToLower(s.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", s.LogLevel)
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		bad("LOG_FORMAT", "must be text or json, got %q", s.LogFormat)
	}
	return p
}
