package config

import "time"

// Prefix is the prefix of every setting's environment variable.
const Prefix = "JOBBERGATE_AGENT_"

// Settings is the agent's whole configuration. Each field's `env` tag is its variable name without
// the prefix; `default` is the value used when the variable is unset; `secret` fields are masked
// when printed; `doc` is the one-line description printed by `jobbergate-agent config`.
type Settings struct {
	// Slurm commands.
	SbatchPath     string `env:"SBATCH_PATH" default:"/usr/bin/sbatch" doc:"absolute path of sbatch"`
	ScontrolPath   string `env:"SCONTROL_PATH" default:"/usr/bin/scontrol" doc:"absolute path of scontrol"`
	ScancelPath    string `env:"SCANCEL_PATH" default:"/usr/bin/scancel" doc:"absolute path of scancel"`
	SqueuePath     string `env:"SQUEUE_PATH" doc:"absolute path of squeue (batched state reads); empty = squeue in SCONTROL_PATH's directory"`
	SacctPath      string `env:"SACCT_PATH" doc:"absolute path of sacct (jobs slurmctld forgot); empty = sacct in SCONTROL_PATH's directory"`
	XSlurmUserName string `env:"X_SLURM_USER_NAME" default:"ubuntu" doc:"fallback for SINGLE_USER_SUBMITTER"`
	DefaultWorkDir string `env:"DEFAULT_SLURM_WORK_DIR" default:"/home/{username}" doc:"execution directory when a submission names none; {username} is replaced"`

	// Jobbergate API.
	BaseAPIURL       string `env:"BASE_API_URL" default:"https://apis.vantagehpc.io" doc:"base URL of the Jobbergate API"`
	MaxPagesPerCycle int    `env:"MAX_PAGES_PER_CYCLE" default:"5" doc:"accepted for compatibility; the bridge drains every page (0 in the client means no limit)"`
	ItemsPerPage     int    `env:"ITEMS_PER_PAGE" default:"100" doc:"page size of list calls, 1..100"`
	RequestsTimeout  *int   `env:"REQUESTS_TIMEOUT" default:"15" doc:"API request timeout in seconds; none = no timeout"`

	// OIDC.
	OIDCDomain       string `env:"OIDC_DOMAIN" default:"auth.vantagehpc.io/realms/vantage" doc:"host and path of the OIDC realm, no scheme"`
	OIDCClientID     string `env:"OIDC_CLIENT_ID" default:"jobbergate-agent" doc:"OIDC client id (identifies the cluster)"`
	OIDCClientSecret string `env:"OIDC_CLIENT_SECRET" default:"CHANGE_ME" secret:"true" doc:"OIDC client secret"`
	OIDCUseHTTPS     bool   `env:"OIDC_USE_HTTPS" default:"true" doc:"false: talk to the OIDC server over http"`

	// Sentry.
	SentryDSN                 string  `env:"SENTRY_DSN" secret:"true" doc:"Sentry DSN; empty disables Sentry"`
	SentryEnv                 string  `env:"SENTRY_ENV" default:"local" doc:"Sentry environment"`
	SentryTracesSampleRate    float64 `env:"SENTRY_TRACES_SAMPLE_RATE" default:"0.01" doc:"(0,1]"`
	SentrySampleRate          float64 `env:"SENTRY_SAMPLE_RATE" default:"0.25" doc:"(0,1]"`
	SentryProfilingSampleRate float64 `env:"SENTRY_PROFILING_SAMPLE_RATE" default:"0.01" doc:"(0,1]"`

	// Local state.
	CacheDir string `env:"CACHE_DIR" default:"$HOME/.cache/jobbergate-agent" doc:"token cache, NATS store, mapper cache"`

	// Users.
	SlurmUserMapper       string        `env:"SLURM_USER_MAPPER" doc:"user mapper name; empty = single-user-mapper"`
	SingleUserSubmitter   string        `env:"SINGLE_USER_SUBMITTER" doc:"user of single-user-mapper; empty = X_SLURM_USER_NAME"`
	GetExtraGroups        bool          `env:"GET_EXTRA_GROUPS" default:"false" doc:"give sbatch the user's supplementary groups (else only the primary group)"`
	AllowRootSubmit       bool          `env:"ALLOW_ROOT_SUBMIT" default:"false" doc:"allow submitting as uid 0 (never do this on a real cluster)"`
	CommandMapperPath     string        `env:"COMMAND_MAPPER_PATH" doc:"site program for command-mapper: e-mail in, username out"`
	LDAPDomain            string        `env:"LDAP_DOMAIN" doc:"LDAP server host (ldap-cached-mapper)"`
	LDAPPort              int           `env:"LDAP_PORT" default:"636" doc:"LDAP server port"`
	LDAPBindDN            string        `env:"LDAP_BIND_DN" doc:"bind DN"`
	LDAPPassword          string        `env:"LDAP_PASSWORD" secret:"true" doc:"bind password"`
	LDAPSearchBase        string        `env:"LDAP_SEARCH_BASE" doc:"search base"`
	LDAPUIDAttribute      string        `env:"LDAP_UID_ATTRIBUTE" default:"uid" doc:"attribute holding the username"`
	LDAPCAFile            string        `env:"LDAP_CA_FILE" doc:"CA bundle for the LDAP server's certificate; empty = system roots"`
	LDAPTLSMode           string        `env:"LDAP_TLS_MODE" default:"ldaps" doc:"ldaps, starttls or plain (plain only for a loopback test server)"`
	LDAPTimeout           time.Duration `env:"LDAP_TIMEOUT" default:"10s" doc:"LDAP connect and request timeout"`
	LDAPCacheTTL          time.Duration `env:"LDAP_CACHE_TTL" default:"0s" doc:"how long a cached e-mail mapping is trusted; 0 = forever (as the reference)"`
	CommandMapperTimeout  time.Duration `env:"COMMAND_MAPPER_TIMEOUT" default:"10s" doc:"time limit of one command-mapper run"`
	CommandMapperCacheTTL time.Duration `env:"COMMAND_MAPPER_CACHE_TTL" default:"5m" doc:"how long a user name from command-mapper is reused for the same e-mail; 0 = run the program every time (misses are never cached)"`
	WriteSubmissionFiles  bool          `env:"WRITE_SUBMISSION_FILES" default:"true" doc:"write job-script files into the execution directory"`
	AllowHiddenFiles      bool          `env:"ALLOW_HIDDEN_FILES" default:"false" doc:"accept job-script file names with an element that begins with a dot (.bashrc); off: such a file would replace the submitter's own"`
	MaxFileBytes          int           `env:"MAX_FILE_BYTES" default:"16777216" doc:"largest job-script file accepted (bytes); a larger one rejects the submission"`
	MinSubmitUID          int           `env:"MIN_SUBMIT_UID" default:"1000" doc:"owners mapped to a uid from 1 to this minus 1 (system accounts) are rejected; 0 disables"`
	SharedExecutionDirs   []string      `env:"SHARED_EXECUTION_DIRS" doc:"real paths (comma separated) under which a user may run in a directory owned by someone else"`
	TaskJobsInterval      int           `env:"TASK_JOBS_INTERVAL_SECONDS" default:"60" doc:"health report interval in seconds, 10..3600"`
	TaskSelfUpdateSeconds *int          `env:"TASK_SELF_UPDATE_INTERVAL_SECONDS" doc:"self-update check interval (>=10); none disables"`
	SelfUpdateCommand     string        `env:"SELF_UPDATE_COMMAND" doc:"site command that installs version {version} (argv split on spaces, no shell); empty = only report"`
	TaskGCHour            *int          `env:"TASK_GARBAGE_COLLECTION_HOUR" doc:"hour (0-23) of the daily garbage-collection calls (API < 5.7); none disables"`

	// InfluxDB.
	InfluxDSN        string `env:"INFLUX_DSN" secret:"true" doc:"influxdb://user:pass@host:port/db; set = metrics enabled"`
	InfluxPoolSize   int    `env:"INFLUX_POOL_SIZE" default:"10" doc:"connections to InfluxDB kept open for reuse between queries, >=1"`
	InfluxSSL        bool   `env:"INFLUX_SSL" default:"false" doc:"use TLS (needs INFLUX_CERT_PATH)"`
	InfluxVerify     bool   `env:"INFLUX_VERIFY_SSL" default:"false" doc:"verify the InfluxDB certificate"`
	InfluxTimeout    *int   `env:"INFLUX_TIMEOUT" doc:"InfluxDB timeout in seconds (>=1)"`
	InfluxUDPPort    int    `env:"INFLUX_UDP_PORT" default:"4444" doc:"1..65535 (unused: the agent only reads)"`
	InfluxCertPath   string `env:"INFLUX_CERT_PATH" doc:"CA bundle for InfluxDB"`
	InfluxFluxURL    string `env:"INFLUX_FLUX_URL" doc:"InfluxDB 1.8+/2.x URL for Flux queries (instead of INFLUX_DSN); set = metrics enabled"`
	InfluxFluxToken  string `env:"INFLUX_FLUX_TOKEN" secret:"true" doc:"Flux API token (InfluxDB 1.8: user:password)"`
	InfluxFluxOrg    string `env:"INFLUX_FLUX_ORG" doc:"Flux organisation (empty for InfluxDB 1.8)"`
	InfluxFluxBucket string `env:"INFLUX_FLUX_BUCKET" default:"slurm/autogen" doc:"Flux bucket (InfluxDB 1.8: database/retention-policy)"`

	// NATS JetStream (new in this agent).
	NATSURL        string        `env:"NATS_URL" doc:"NATS servers (comma separated); empty = embedded server"`
	NATSCreds      string        `env:"NATS_CREDS" doc:".creds file for NATS"`
	NATSNKeySeed   string        `env:"NATS_NKEY_SEED" doc:"nkey seed file for NATS"`
	NATSUser       string        `env:"NATS_USER" doc:"NATS user"`
	NATSPassword   string        `env:"NATS_PASSWORD" secret:"true" doc:"NATS password"`
	NATSToken      string        `env:"NATS_TOKEN" secret:"true" doc:"NATS token"`
	NATSTLSCA      string        `env:"NATS_TLS_CA" doc:"CA file for NATS TLS"`
	NATSTLSCert    string        `env:"NATS_TLS_CERT" doc:"client certificate for NATS TLS"`
	NATSTLSKey     string        `env:"NATS_TLS_KEY" doc:"client key for NATS TLS"`
	NATSStoreDir   string        `env:"NATS_STORE_DIR" doc:"embedded JetStream store; empty = CACHE_DIR/nats"`
	NATSListen     string        `env:"NATS_LISTEN" default:"127.0.0.1:4222" doc:"embedded server's client listener; off = in-process only"`
	NATSSyncAlways bool          `env:"NATS_SYNC_ALWAYS" default:"true" doc:"fsync the embedded store on every write"`
	NATSReplicas   int           `env:"NATS_REPLICAS" default:"1" doc:"stream replicas: 1 embedded, 3 in a cluster"`
	NATSPrefix     string        `env:"NATS_PREFIX" doc:"stream/subject prefix; empty = derived from OIDC_CLIENT_ID"`
	NATSLeafRemote string        `env:"NATS_LEAF_REMOTE" doc:"hub URL: the embedded server joins it as a leaf node"`
	NATSLeafCreds  string        `env:"NATS_LEAF_CREDS" doc:".creds file for the leaf connection"`
	NATSDomain     string        `env:"NATS_DOMAIN" doc:"JetStream domain of the embedded server (required with NATS_LEAF_REMOTE)"`
	Roles          []string      `env:"ROLES" default:"bridge,submit,update,metrics,health" doc:"what this process does"`
	SubmitConc     int           `env:"SUBMIT_CONCURRENCY" default:"8" doc:"sbatch calls in flight per process (and as many state reads of the new jobs); up to 4 times as many submissions are prepared, read back and reported meanwhile"`
	OwnerConc      int           `env:"OWNER_SUBMIT_CONCURRENCY" default:"0" doc:"sbatch calls in flight for one owner; 0 = half of SUBMIT_CONCURRENCY, so one user who stops their own sbatch cannot hold them all (their submissions also hold at most about half of those in flight and of the download budget; the rest wait their turn in the queue)"`
	UpdateBatch    int           `env:"UPDATE_BATCH_SIZE" default:"200" doc:"active submissions read from Slurm per call"`
	UpdateRefresh  int           `env:"UPDATE_REFRESH_CYCLES" default:"10" doc:"re-send unchanged job data every N cycles"`
	MetricsConc    int           `env:"METRICS_CONCURRENCY" default:"2" doc:"metrics uploads in flight per process"`
	BridgePoll     time.Duration `env:"BRIDGE_POLL_INTERVAL" default:"10s" doc:"how often the bridge leader polls the API"`
	LeaseTTL       time.Duration `env:"BRIDGE_LEASE_TTL" default:"15s" doc:"bridge leader lease; renewed every third of it"`

	// Operation.
	MetricsListen string `env:"METRICS_LISTEN" default:"127.0.0.1:9464" doc:"Prometheus /metrics, /healthz and /readyz listener; off disables"`
	APICAFile     string `env:"API_CA_FILE" doc:"extra CA bundle (PEM) trusted for the API and OIDC servers, added to the system roots"`
	LogLevel      string `env:"LOG_LEVEL" default:"info" doc:"debug, info, warn or error"`
	LogFormat     string `env:"LOG_FORMAT" default:"text" doc:"text or json"`
}

// Role names accepted in ROLES.
const (
	RoleBridge  = "bridge"
	RoleSubmit  = "submit"
	RoleUpdate  = "update"
	RoleMetrics = "metrics"
	RoleHealth  = "health"
)

// HasRole reports whether this process takes the given role.
func (s *Settings) HasRole(role string) bool {
	for _, r := range s.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// InfluxEnabled reports whether metrics are enabled: INFLUX_DSN set, as the reference's
// influx_integration_enabled, or INFLUX_FLUX_URL set.
func (s *Settings) InfluxEnabled() bool { return s.InfluxDSN != "" || s.InfluxFluxURL != "" }

// Embedded reports whether the agent runs its own NATS server (no NATS_URL).
func (s *Settings) Embedded() bool { return s.NATSURL == "" }
