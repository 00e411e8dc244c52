package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// TestSecretsNeverReachLogs runs a full agent (every role) configured with an OIDC client
// secret, an LDAP password, a NATS password, a Sentry DSN key and an InfluxDB Flux token, makes
// each of them be used and fail (LDAP unreachable, InfluxDB answering 401), and greps the agent's
// log, `config` output, `status` output and the error messages of runs with bad settings for
// every secret, and for the OIDC access token the agent obtained.
func TestSecretsNeverReachLogs(t *testing.T) {
	requireSlurm(t)
	secrets := map[string]string{
		"OIDC client secret": "oidc-S3cr3t-q7x",
		"LDAP password":      "ldap-Pa55-w0rd-z2",
		"NATS password":      "nats-Pa55-k9v",
		"Sentry DSN key":     "0123456789abcdef0123456789sentry",
		"Flux token":         "flux-T0ken-m4n",
		"InfluxDB password":  "influx-Pa55-r8t",
	}

	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, Username: "agent",
		Password: secrets["NATS password"], JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	var sentryHits, fluxHits atomic.Int32
	sentry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sentryHits.Add(1) }))
	t.Cleanup(sentry.Close)
	flux := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fluxHits.Add(1)
		http.Error(w, `{"code":"unauthorized","message":"unauthorized access"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(flux.Close)

	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	api.AddClient(jobbergatetest.Client{ID: "cluster-secret", Secret: secrets["OIDC client secret"], Permissions: jobbergatetest.AgentScopes})
	script := api.AddJobScript(jobbergatetest.JobScript{Name: "s", OwnerEmail: "alice@example.org", Files: []jobbergatetest.File{{
		Filename: "s.sh", FileType: "ENTRYPOINT", Content: []byte("#!/bin/bash\ntrue\n")}}})
	api.AddSubmission(jobbergatetest.Submission{Name: "needs ldap", OwnerEmail: "alice@example.org", ClientID: "cluster-secret", JobScriptID: script})
	jobID, state := 999999, "RUNNING"
	api.AddSubmission(jobbergatetest.Submission{Name: "has metrics", OwnerEmail: "alice@example.org", ClientID: "cluster-secret",
		JobScriptID: script, Status: "SUBMITTED", SlurmJobID: &jobID, SlurmJobState: &state})

	sentryURL := strings.Replace(sentry.URL, "http://", "http://"+secrets["Sentry DSN key"]+"@", 1) + "/42"
	cacheDir := t.TempDir()
	env := []string{
		"JOBBERGATE_AGENT_BASE_API_URL=" + api.URL(),
		"JOBBERGATE_AGENT_OIDC_DOMAIN=" + api.OIDCDomain(),
		"JOBBERGATE_AGENT_OIDC_USE_HTTPS=false",
		"JOBBERGATE_AGENT_OIDC_CLIENT_ID=cluster-secret",
		"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=" + secrets["OIDC client secret"],
		"JOBBERGATE_AGENT_CACHE_DIR=" + cacheDir,
		"JOBBERGATE_AGENT_NATS_URL=" + ns.ClientURL(),
		"JOBBERGATE_AGENT_NATS_USER=agent",
		"JOBBERGATE_AGENT_NATS_PASSWORD=" + secrets["NATS password"],
		"JOBBERGATE_AGENT_METRICS_LISTEN=127.0.0.1:0",
		"JOBBERGATE_AGENT_ROLES=bridge,submit,update,metrics,health",
		"JOBBERGATE_AGENT_BRIDGE_POLL_INTERVAL=1s",
		"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=10",
		"JOBBERGATE_AGENT_SLURM_USER_MAPPER=ldap-cached-mapper",
		"JOBBERGATE_AGENT_LDAP_DOMAIN=127.0.0.1",
		"JOBBERGATE_AGENT_LDAP_PORT=" + strings.Split(freeAddr(t), ":")[1],
		"JOBBERGATE_AGENT_LDAP_TLS_MODE=plain",
		"JOBBERGATE_AGENT_LDAP_BIND_DN=cn=agent,dc=example,dc=org",
		"JOBBERGATE_AGENT_LDAP_SEARCH_BASE=dc=example,dc=org",
		"JOBBERGATE_AGENT_LDAP_PASSWORD=" + secrets["LDAP password"],
		"JOBBERGATE_AGENT_LDAP_TIMEOUT=1s",
		"JOBBERGATE_AGENT_SENTRY_DSN=" + sentryURL,
		"JOBBERGATE_AGENT_SENTRY_SAMPLE_RATE=1",
		"JOBBERGATE_AGENT_INFLUX_FLUX_URL=" + flux.URL,
		"JOBBERGATE_AGENT_INFLUX_FLUX_TOKEN=" + secrets["Flux token"],
		"JOBBERGATE_AGENT_LOG_LEVEL=debug",
	}

	var outputs []string // every text an operator could see
	a := startAgent(t, env)
	testenv.Eventually(t, 60*time.Second, func() bool {
		l := strings.ToLower(a.logs.String())
		return fluxHits.Load() > 0 && strings.Contains(l, "ldap") && strings.Contains(l, "retry")
	}, "the LDAP mapper and the Flux source were not both used")
	code, stdout, stderr := run(t, env, "status")
	outputs = append(outputs, "status stdout: "+stdout, "status stderr: "+stderr)
	if code != 0 {
		t.Errorf("status: exit %d: %s", code, stderr)
	}
	if c := a.stop(); c != 0 {
		t.Errorf("agent exit code %d", c)
	}
	outputs = append(outputs, "agent log: "+a.logs.String())
	tok, err := os.ReadFile(jobbergate.TokenCachePath(cacheDir))
	if err != nil || len(strings.TrimSpace(string(tok))) < 20 {
		t.Errorf("no cached access token to look for: %v", err)
	} else {
		secrets["OIDC access token"] = strings.TrimSpace(string(tok))
	}

	// config, valid and invalid; run refusing invalid settings; run with a wrong NATS password.
	_, stdout, stderr = run(t, env, "config")
	outputs = append(outputs, "config: "+stdout+stderr)
	_, stdout, stderr = run(t, env, "config", "--json")
	outputs = append(outputs, "config --json: "+stdout+stderr)
	bad := append(env[:len(env):len(env)],
		"JOBBERGATE_AGENT_INFLUX_DSN=https://admin:"+secrets["InfluxDB password"]+"@influx.example.org:8086/slurm",
		"JOBBERGATE_AGENT_LOG_LEVEL=loud")
	code, stdout, stderr = run(t, bad, "config")
	outputs = append(outputs, "invalid config: "+stdout+stderr)
	if code == 0 {
		t.Error("invalid settings accepted")
	}
	code, stdout, stderr = run(t, bad, "run")
	outputs = append(outputs, "invalid run: "+stdout+stderr)
	if code == 0 || !strings.Contains(stderr, "INFLUX_DSN") {
		t.Errorf("run with invalid settings: exit %d: %s", code, stderr)
	}
	wrong := append(env[:len(env):len(env)], "JOBBERGATE_AGENT_NATS_PASSWORD=wrong-"+secrets["NATS password"])
	code, stdout, stderr = run(t, wrong, "status", "--timeout", "3s")
	outputs = append(outputs, "status with a wrong password: "+stdout+stderr)
	if code == 0 {
		t.Error("status with a wrong NATS password succeeded")
	}

	for what, secret := range secrets {
		for _, out := range outputs {
			if strings.Contains(out, secret) {
				name, _, _ := strings.Cut(out, ":")
				t.Errorf("the %s appears in the %s output", what, name)
			}
		}
	}
	if sentryHits.Load() == 0 {
		t.Log("(no event reached the fake Sentry; the DSN was still configured and checked)")
	}
}
