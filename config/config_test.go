package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, env ...string) (*Settings, error) {
	t.Helper()
	return Load(Source{Environ: env, Dotenv: "none", Home: "/home/agent"})
}

func TestDefaultsMatchTheReference(t *testing.T) {
	s, err := load(t)
	if err != nil {
		t.Fatalf("defaults must be valid: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"SBATCH_PATH", s.SbatchPath, "/usr/bin/sbatch"},
		{"SCONTROL_PATH", s.ScontrolPath, "/usr/bin/scontrol"},
		{"SCANCEL_PATH", s.ScancelPath, "/usr/bin/scancel"},
		{"SQUEUE_PATH", s.SqueuePath, "/usr/bin/squeue"},
		{"SACCT_PATH", s.SacctPath, "/usr/bin/sacct"},
		{"X_SLURM_USER_NAME", s.XSlurmUserName, "ubuntu"},
		{"DEFAULT_SLURM_WORK_DIR", s.DefaultWorkDir, "/home/{username}"},
		{"BASE_API_URL", s.BaseAPIURL, "https://apis.vantagehpc.io"},
		{"MAX_PAGES_PER_CYCLE", s.MaxPagesPerCycle, 5},
		{"ITEMS_PER_PAGE", s.ItemsPerPage, 100},
		{"SENTRY_DSN", s.SentryDSN, ""},
		{"SENTRY_ENV", s.SentryEnv, "local"},
		{"SENTRY_TRACES_SAMPLE_RATE", s.SentryTracesSampleRate, 0.01},
		{"SENTRY_SAMPLE_RATE", s.SentrySampleRate, 0.25},
		{"SENTRY_PROFILING_SAMPLE_RATE", s.SentryProfilingSampleRate, 0.01},
		{"OIDC_DOMAIN", s.OIDCDomain, "auth.vantagehpc.io/realms/vantage"},
		{"OIDC_CLIENT_ID", s.OIDCClientID, "jobbergate-agent"},
		{"OIDC_CLIENT_SECRET", s.OIDCClientSecret, "CHANGE_ME"},
		{"OIDC_USE_HTTPS", s.OIDCUseHTTPS, true},
		{"CACHE_DIR", s.CacheDir, "/home/agent/.cache/jobbergate-agent"},
		{"REQUESTS_TIMEOUT", *s.RequestsTimeout, 15},
		{"SLURM_USER_MAPPER", s.SlurmUserMapper, MapperSingleUser},
		{"SINGLE_USER_SUBMITTER", s.SingleUserSubmitter, "ubuntu"},
		{"TASK_JOBS_INTERVAL_SECONDS", s.TaskJobsInterval, 60},
		{"TASK_SELF_UPDATE_INTERVAL_SECONDS", s.TaskSelfUpdateSeconds == nil, true},
		{"WRITE_SUBMISSION_FILES", s.WriteSubmissionFiles, true},
		{"GET_EXTRA_GROUPS", s.GetExtraGroups, false},
		{"INFLUX_DSN", s.InfluxEnabled(), false},
		{"INFLUX_POOL_SIZE", s.InfluxPoolSize, 10},
		{"INFLUX_SSL", s.InfluxSSL, false},
		{"INFLUX_VERIFY_SSL", s.InfluxVerify, false},
		{"INFLUX_TIMEOUT", s.InfluxTimeout == nil, true},
		{"INFLUX_UDP_PORT", s.InfluxUDPPort, 4444},
		{"LDAP_PORT", s.LDAPPort, 636},
		{"LDAP_UID_ATTRIBUTE", s.LDAPUIDAttribute, "uid"},
		{"NATS_STORE_DIR", s.NATSStoreDir, "/home/agent/.cache/jobbergate-agent/nats"},
		{"NATS_PREFIX", s.NATSPrefix, "JBG_JOBBERGATE_AGENT"},
		{"NATS_LISTEN", s.NATSListen, "127.0.0.1:4222"},
		{"ROLES", strings.Join(s.Roles, ","), "bridge,submit,update,metrics,health"},
		{"BRIDGE_POLL_INTERVAL", s.BridgePoll, 10 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if !s.Embedded() {
		t.Error("no NATS_URL must mean embedded mode")
	}
}

func TestValuesAreParsed(t *testing.T) {
	s, err := load(t,
		"JOBBERGATE_AGENT_ITEMS_PER_PAGE=20",
		"jobbergate_agent_get_extra_groups=yes", // names are case-insensitive
		"JOBBERGATE_AGENT_OIDC_USE_HTTPS=off",
		"JOBBERGATE_AGENT_REQUESTS_TIMEOUT=none",
		"JOBBERGATE_AGENT_X_SLURM_USER_NAME=alice",
		"JOBBERGATE_AGENT_INFLUX_DSN=influxdb://u:p@localhost:8086/slurm",
		"JOBBERGATE_AGENT_ROLES= submit , update ",
		"JOBBERGATE_AGENT_BRIDGE_POLL_INTERVAL=30",
		"JOBBERGATE_AGENT_BRIDGE_LEASE_TTL=1m",
		"JOBBERGATE_AGENT_NATS_LISTEN=off",
		"OTHER_VARIABLE=ignored",
	)
	if err != nil {
		t.Fatal(err)
	}
	if s.ItemsPerPage != 20 || !s.GetExtraGroups || s.OIDCUseHTTPS || s.RequestsTimeout != nil {
		t.Errorf("parsed values wrong: %+v", s)
	}
	if s.SingleUserSubmitter != "alice" {
		t.Errorf("SINGLE_USER_SUBMITTER must fall back to X_SLURM_USER_NAME, got %q", s.SingleUserSubmitter)
	}
	if !s.InfluxEnabled() || !s.HasRole(RoleSubmit) || s.HasRole(RoleBridge) {
		t.Errorf("influx/roles wrong: %v %v", s.InfluxEnabled(), s.Roles)
	}
	if s.BridgePoll != 30*time.Second || s.LeaseTTL != time.Minute || s.NATSListen != "" {
		t.Errorf("durations/listen wrong: %v %v %q", s.BridgePoll, s.LeaseTTL, s.NATSListen)
	}
}

func TestInvalidSettingsAreAllReported(t *testing.T) {
	cases := []struct {
		env  []string
		want []string // each must appear on its own line
	}{
		{
			[]string{"JOBBERGATE_AGENT_INFLUX_DSN=https://localhost:8086/db", "JOBBERGATE_AGENT_SBATCH_PATH=bin/sbatch"},
			[]string{"JOBBERGATE_AGENT_SBATCH_PATH: must be an absolute path", "JOBBERGATE_AGENT_INFLUX_DSN: scheme \"https\" is not supported"},
		},
		{[]string{"JOBBERGATE_AGENT_INFLUX_DSN=http+influxdb://h/db"}, []string{"INFLUX_DSN: scheme \"http+influxdb\""}},
		{[]string{"JOBBERGATE_AGENT_INFLUX_DSN=ftp://h/db"}, []string{"INFLUX_DSN: scheme \"ftp\""}},
		{[]string{"JOBBERGATE_AGENT_INFLUX_DSN=smtp://h/db"}, []string{"INFLUX_DSN: scheme \"smtp\""}},
		{[]string{"JOBBERGATE_AGENT_INFLUX_DSN=file://h/db"}, []string{"INFLUX_DSN: scheme \"file\""}},
		{[]string{"JOBBERGATE_AGENT_INFLUX_DSN=influxdb://h/db", "JOBBERGATE_AGENT_INFLUX_SSL=true"}, []string{"INFLUX_CERT_PATH: is required when INFLUX_SSL is true"}},
		{[]string{"JOBBERGATE_AGENT_ITEMS_PER_PAGE=101", "JOBBERGATE_AGENT_MAX_PAGES_PER_CYCLE=0"}, []string{"ITEMS_PER_PAGE: must be between 1 and 100", "MAX_PAGES_PER_CYCLE: must be at least 1"}},
		{[]string{"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=5"}, []string{"TASK_JOBS_INTERVAL_SECONDS: must be between 10 and 3600"}},
		{[]string{"JOBBERGATE_AGENT_TASK_SELF_UPDATE_INTERVAL_SECONDS=9"}, []string{"TASK_SELF_UPDATE_INTERVAL_SECONDS: must be at least 10"}},
		{[]string{"JOBBERGATE_AGENT_REQUESTS_TIMEOUT="}, []string{"REQUESTS_TIMEOUT: \"\" is not an integer"}},
		{[]string{"JOBBERGATE_AGENT_GET_EXTRA_GROUPS=maybe"}, []string{"GET_EXTRA_GROUPS: \"maybe\" is not a boolean"}},
		{[]string{"JOBBERGATE_AGENT_SLURM_USER_MAPPER=ldap-cached-mapper"}, []string{"LDAP_DOMAIN: is required", "LDAP_PASSWORD: is required", "LDAP_BIND_DN: is required", "LDAP_SEARCH_BASE: is required"}},
		{[]string{"JOBBERGATE_AGENT_SLURM_USER_MAPPER=command-mapper"}, []string{"COMMAND_MAPPER_PATH: is required"}},
		{[]string{"JOBBERGATE_AGENT_ROLES=submit,poller"}, []string{"ROLES: unknown role \"poller\""}},
		{[]string{"JOBBERGATE_AGENT_NATS_URL=http://x:4222"}, []string{"NATS_URL: \"http://x:4222\" is not"}},
		{[]string{"JOBBERGATE_AGENT_NATS_LEAF_REMOTE=nats://hub:7422"}, []string{"NATS_DOMAIN: is required"}},
		{[]string{"JOBBERGATE_AGENT_BASE_API_URL=apis.example.org"}, []string{"BASE_API_URL: must be an http"}},
		{[]string{"JOBBERGATE_AGENT_OIDC_DOMAIN=https://auth.example.org/realms/x"}, []string{"OIDC_DOMAIN: must be a host and path without a scheme"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.env, " "), func(t *testing.T) {
			_, err := load(t, c.env...)
			var p Problems
			if !errors.As(err, &p) {
				t.Fatalf("want Problems, got %v", err)
			}
			if len(p) != len(c.want) {
				t.Errorf("want %d problems, got %d:\n%v", len(c.want), len(p), err)
			}
			for _, w := range c.want {
				found := false
				for _, line := range p {
					if strings.Contains(line, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem line contains %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestDotenvFileAndEnvironmentPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	content := "# site settings\nexport JOBBERGATE_AGENT_X_SLURM_USER_NAME=fromfile\n" +
		"JOBBERGATE_AGENT_ITEMS_PER_PAGE=\"42\"\nJOBBERGATE_AGENT_OIDC_CLIENT_SECRET='s3cr#t' # comment\nUNRELATED=1\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(Source{Dotenv: path, Environ: []string{"JOBBERGATE_AGENT_ITEMS_PER_PAGE=7"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.XSlurmUserName != "fromfile" || s.OIDCClientSecret != "s3cr#t" {
		t.Errorf("values from the .env file not used: %q %q", s.XSlurmUserName, s.OIDCClientSecret)
	}
	if s.ItemsPerPage != 7 {
		t.Errorf("the environment must win over the .env file, got %d", s.ItemsPerPage)
	}
	if _, err := Load(Source{Dotenv: filepath.Join(dir, "missing.env")}); err == nil || !strings.Contains(err.Error(), "missing.env") {
		t.Errorf("a named .env file that does not exist must be a problem, got %v", err)
	}
}

func TestParseDotenvErrors(t *testing.T) {
	for _, in := range []string{"NOEQUALS\n", "=value\n", "KEY=\"unterminated\n", "KEY='a' b\n"} {
		if _, err := ParseDotenv(strings.NewReader(in)); err == nil {
			t.Errorf("%q: want an error", in)
		}
	}
	kv, err := ParseDotenv(strings.NewReader("A=1\n\n# c\nB=\"x\\ny\"\nC= spaced value # note\n"))
	if err != nil {
		t.Fatal(err)
	}
	if kv["A"] != "1" || kv["B"] != "x\ny" || kv["C"] != "spaced value" {
		t.Errorf("parsed %q", kv)
	}
}

func TestDescribeMasksSecrets(t *testing.T) {
	s, err := load(t,
		"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=topsecret",
		"JOBBERGATE_AGENT_SENTRY_DSN=https://publickey@o1.ingest.sentry.io/42",
		"JOBBERGATE_AGENT_INFLUX_DSN=influxdb://user:hunter2@influx:8086/slurm",
		"JOBBERGATE_AGENT_NATS_USER=agent", "JOBBERGATE_AGENT_NATS_PASSWORD=natspass",
		"JOBBERGATE_AGENT_INFLUX_FLUX_TOKEN=fluxtoken",
	)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	byName := map[string]string{}
	for _, e := range Describe(s) {
		all.WriteString(e.Name + "=" + e.Value + "\n")
		byName[e.Name] = e.Value
	}
	for _, secret := range []string{"topsecret", "publickey", "hunter2", "natspass", "fluxtoken"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("secret %q printed:\n%s", secret, all.String())
		}
	}
	if got := byName["JOBBERGATE_AGENT_INFLUX_DSN"]; !strings.Contains(got, "influx:8086/slurm") {
		t.Errorf("masked DSN should keep host and database, got %q", got)
	}
	if byName["JOBBERGATE_AGENT_SBATCH_PATH"] != "/usr/bin/sbatch" || byName["JOBBERGATE_AGENT_OIDC_CLIENT_SECRET"] != Masked {
		t.Errorf("unexpected values: %v", byName)
	}
	s.SentryDSN = "https://o1.ingest.sentry.io/42?sentry_key=querysecret#frag"
	for _, e := range Describe(s) {
		if strings.Contains(e.Value, "querysecret") {
			t.Errorf("%s prints a secret from the URL query: %s", e.Name, e.Value)
		}
	}
	if len(byName) != len(Describe(s)) {
		t.Error("setting names must be unique")
	}
}

// TestDescribeMasksURLPasswords: `config` prints the user of a URL but never its password, in
// NATS_URL (each of a list), NATS_LEAF_REMOTE and BASE_API_URL, nor a NATS token in a URL; nor do
// the problems with such a URL.
func TestDescribeMasksURLPasswords(t *testing.T) {
	s, err := load(t,
		"JOBBERGATE_AGENT_NATS_URL=nats://agent:s3cret@host:4222, tls://n1tok3n@other:4222,nats://plain:4222",
		"JOBBERGATE_AGENT_NATS_LEAF_REMOTE=nats://leaf:l3afpw@hub:7422/path?x=1",
		"JOBBERGATE_AGENT_NATS_DOMAIN=leaf",
		"JOBBERGATE_AGENT_BASE_API_URL=https://api:ap1pw@api.example.org/jobbergate",
	)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, e := range Describe(s) {
		byName[e.Name] = e.Value
	}
	for name, want := range map[string]string{
		"NATS_URL":         "nats://agent:********@host:4222, tls://********@other:4222,nats://plain:4222",
		"NATS_LEAF_REMOTE": "nats://leaf:********@hub:7422/path?x=1",
		"BASE_API_URL":     "https://api:********@api.example.org/jobbergate",
	} {
		if got := byName[Prefix+name]; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	_, err = load(t, "JOBBERGATE_AGENT_NATS_URL=http://agent:s3cret@host:4222", "JOBBERGATE_AGENT_BASE_API_URL=ftp://api:ap1pw@host")
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "ap1pw") || !strings.Contains(err.Error(), "http://agent:********@host:4222") {
		t.Errorf("problems print a URL's password: %v", err)
	}
	if got := RedactURLs("https://user@host/p@th"); got != "https://user@host/p@th" {
		t.Errorf("a user without a password is kept: %q", got)
	}
}

// TestUnknownKeysWarnOnce: a JOBBERGATE_AGENT_* variable that names no setting is ignored, as the
// reference ignores it (an old .env must not stop the agent): no problem, one warning per
// variable, naming where it came from and the closest known setting when one is close.
func TestUnknownKeysWarnOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.env")
	content := "JOBBERGATE_AGENT_SBATCH_PTH=/opt/slurm/bin/sbatch\n" +
		"JOBBERGATE_AGENT_SENTRY_DNS=https://k@sentry.example.org/1\n" + // swapped letters
		"JOBBERGATE_AGENT_SLURMRESTD_URL=http://slurmrestd:6820\n" + // nothing close
		"JOBBERGATE_AGENT_INFLUX_POOLSIZE=4\n" +
		"JOBBERGATE_AGENT_TASK_GARBAGE_COLLECTION_HOUR=3\n" // a reference setting: known
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []Warning
	s, err := Load(Source{Dotenv: path, Home: "/home/agent", Warn: func(w Warning) { got = append(got, w) },
		Environ: []string{"jobbergate_agent_influx_poolsize=5", "JOBBERGATE_AGENT_SBATCHPATH=/x"}})
	if err != nil {
		t.Fatalf("unknown keys must not be problems: %v", err)
	}
	if s.SbatchPath != "/usr/bin/sbatch" || s.InfluxPoolSize != 10 || s.TaskGCHour == nil || *s.TaskGCHour != 3 {
		t.Errorf("unknown keys must change nothing: %q %d %v", s.SbatchPath, s.InfluxPoolSize, s.TaskGCHour)
	}
	want := []Warning{
		{Key: "jobbergate_agent_influx_poolsize", From: FromEnvironment, Suggestion: "JOBBERGATE_AGENT_INFLUX_POOL_SIZE"},
		{Key: "JOBBERGATE_AGENT_SBATCHPATH", From: FromEnvironment, Suggestion: "JOBBERGATE_AGENT_SBATCH_PATH"},
		{Key: "JOBBERGATE_AGENT_SBATCH_PTH", From: path, Suggestion: "JOBBERGATE_AGENT_SBATCH_PATH"},
		{Key: "JOBBERGATE_AGENT_SENTRY_DNS", From: path, Suggestion: "JOBBERGATE_AGENT_SENTRY_DSN"},
		{Key: "JOBBERGATE_AGENT_SLURMRESTD_URL", From: path},
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("warning %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if msg := got[2].String(); msg != "unknown setting JOBBERGATE_AGENT_SBATCH_PTH ignored (in "+path+"); did you mean JOBBERGATE_AGENT_SBATCH_PATH?" {
		t.Errorf("message %q", msg)
	}
	if msg := got[1].String(); msg != "unknown setting JOBBERGATE_AGENT_SBATCHPATH ignored; did you mean JOBBERGATE_AGENT_SBATCH_PATH?" {
		t.Errorf("message %q", msg)
	}
	if msg := got[4].String(); !strings.Contains(msg, "SLURMRESTD_URL ignored") || strings.Contains(msg, "did you mean") || strings.Contains(msg, "slurmrestd:6820") {
		t.Errorf("message %q", msg)
	}

	// A key an extension registers is known.
	RegisterKey("site_quota_url")
	t.Cleanup(func() { delete(extraKeys, "SITE_QUOTA_URL") })
	got = nil
	if _, err := Load(Source{Dotenv: "none", Home: "/home/agent", Warn: func(w Warning) { got = append(got, w) },
		Environ: []string{"JOBBERGATE_AGENT_SITE_QUOTA_URL=x", "JOBBERGATE_AGENT_SITE_QUOTA_UR=y"}}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Suggestion != "JOBBERGATE_AGENT_SITE_QUOTA_URL" {
		t.Errorf("with a registered key: %+v", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "ABC", 3}, {"ABC", "", 3}, {"SBATCH_PTH", "SBATCH_PATH", 1},
		{"SENTRY_DNS", "SENTRY_DSN", 1}, {"KITTEN", "SITTING", 3}, {"CA", "ABC", 3}, {"SAME", "SAME", 0},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := editDistance(c.b, c.a); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.b, c.a, got, c.want)
		}
	}
	if got := closest("X", knownNames()); got != "" {
		t.Errorf("closest(X) = %q", got)
	}
	if got := closest(strings.Repeat("SBATCH_PATH", 1000), knownNames()); got != "" {
		t.Errorf("a long name: %q", got)
	}
}

// TestSlurmCommandsBesideScontrol: a site with Slurm outside /usr/bin sets the reference's three
// paths; squeue and sacct, which the reference does not run, default to SCONTROL_PATH's
// directory, and a path set for them wins.
func TestSlurmCommandsBesideScontrol(t *testing.T) {
	s, err := load(t, "JOBBERGATE_AGENT_SBATCH_PATH=/opt/slurm/bin/sbatch", "JOBBERGATE_AGENT_SCONTROL_PATH=/opt/slurm/bin/scontrol",
		"JOBBERGATE_AGENT_SCANCEL_PATH=/opt/slurm/bin/scancel")
	if err != nil {
		t.Fatal(err)
	}
	if s.SqueuePath != "/opt/slurm/bin/squeue" || s.SacctPath != "/opt/slurm/bin/sacct" {
		t.Errorf("squeue %q, sacct %q: want them in /opt/slurm/bin", s.SqueuePath, s.SacctPath)
	}
	byName := map[string]string{}
	for _, e := range Describe(s) {
		byName[e.Name] = e.Value
	}
	if byName[Prefix+"SQUEUE_PATH"] != "/opt/slurm/bin/squeue" || byName[Prefix+"SACCT_PATH"] != "/opt/slurm/bin/sacct" {
		t.Errorf("config prints squeue %q, sacct %q", byName[Prefix+"SQUEUE_PATH"], byName[Prefix+"SACCT_PATH"])
	}

	s, err = load(t, "JOBBERGATE_AGENT_SCONTROL_PATH=/opt/slurm/bin/scontrol", "JOBBERGATE_AGENT_SACCT_PATH=/opt/slurmdbd/bin/sacct",
		"JOBBERGATE_AGENT_SQUEUE_PATH=")
	if err != nil {
		t.Fatal(err)
	}
	if s.SqueuePath != "/opt/slurm/bin/squeue" || s.SacctPath != "/opt/slurmdbd/bin/sacct" {
		t.Errorf("squeue %q (empty means beside scontrol), sacct %q (set wins)", s.SqueuePath, s.SacctPath)
	}

	// A relative SCONTROL_PATH is its own problem only.
	_, err = load(t, "JOBBERGATE_AGENT_SCONTROL_PATH=scontrol")
	var p Problems
	if !errors.As(err, &p) || len(p) != 1 || !strings.Contains(p[0], "SCONTROL_PATH") {
		t.Errorf("want one problem naming SCONTROL_PATH, got %v", err)
	}
	if _, err := load(t, "JOBBERGATE_AGENT_SACCT_PATH=bin/sacct"); err == nil || !strings.Contains(err.Error(), "SACCT_PATH: must be an absolute path") {
		t.Errorf("a relative SACCT_PATH: %v", err)
	}
}
