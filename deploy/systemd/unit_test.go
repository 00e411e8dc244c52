// Package systemd_test checks deploy/systemd/jobbergate-agent.service: systemd-analyze accepts
// it, and the capabilities it leaves the agent are enough to submit a job as another user.
package systemd_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const startSlurm = "run `deploy/slurm/slurm-single-node.sh start` as root (creates alice and bob)"

// buildAgent compiles cmd/jobbergate-agent into a temporary directory.
func buildAgent(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go" // the Go image's toolchain
	}
	out := filepath.Join(t.TempDir(), "jobbergate-agent")
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/jobbergate-agent")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// unitSettings returns the [Service] settings of the unit (the last value of each key).
func unitSettings(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("jobbergate-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	section := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = l
		case section == "[Service]":
			k, v, _ := strings.Cut(l, "=")
			out[k] = v
		}
	}
	return out
}

func TestUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	_, err := exec.LookPath("systemd-analyze")
	testenv.Require(t, "systemd", err == nil, "systemd-analyze is missing: run deploy/systemd/verify.sh as root (installs Debian's systemd)")
	bin := buildAgent(t)
	out, err := exec.Command("bash", "verify.sh", bin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "jobbergate-agent.service OK") {
		t.Fatalf("verify.sh: %v\n%s", err, out)
	}
}

func TestUnitStopAndRestartPolicy(t *testing.T) {
	s := unitSettings(t)
	for k, want := range map[string]string{
		"KillSignal": "SIGTERM", "KillMode": "mixed", "Restart": "on-failure", "User": "root",
		"ProtectHome": "no", "PrivateTmp": "no", "NoNewPrivileges": "yes",
		"EnvironmentFile": "/etc/jobbergate-agent/jobbergate-agent.env",
	} {
		if s[k] != want {
			t.Errorf("%s=%q, want %q", k, s[k], want)
		}
	}
	// The agent's graceful stop takes up to 45 s (cli's stopTimeout); systemd must wait longer.
	if stop, err := strconv.Atoi(s["TimeoutStopSec"]); err != nil || stop <= 45 {
		t.Errorf("TimeoutStopSec=%q must exceed the agent's 45 s graceful stop", s["TimeoutStopSec"])
	}
}

// setprivCaps turns "CAP_SETUID CAP_KILL" into setpriv's "-all,+setuid,+kill".
func setprivCaps(bounding string) string {
	spec := "-all"
	for _, c := range strings.Fields(bounding) {
		spec += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return spec
}

// TestUnitCapabilitiesSuffice runs the agent as the unit would, as root with the unit's
// capability bounding set and no_new_privs (setpriv does what systemd does), and submits a held
// job as alice: it must be SUBMITTED and owned by alice. The same run without CAP_SETUID and
// CAP_SETGID must fail to switch users, which shows the test can tell.
func TestUnitCapabilitiesSuffice(t *testing.T) {
	testenv.Require(t, "root", testenv.IsRoot(), "the agent switches to alice: run the tests as root")
	ping, err := exec.Command("scontrol", "ping").CombinedOutput()
	testenv.Require(t, "slurm", err == nil && strings.Contains(string(ping), "UP"), "slurmctld does not answer `scontrol ping`: "+startSlurm)
	alice, err := user.Lookup("alice")
	testenv.Require(t, "slurm", err == nil, "no local user alice: "+startSlurm)
	setpriv, err := exec.LookPath("setpriv")
	testenv.Require(t, "setpriv", err == nil, "setpriv is missing: apt-get install util-linux")

	s := unitSettings(t)
	bin := buildAgent(t)
	for _, tc := range []struct {
		name, caps string
		wantOK     bool
	}{
		{name: "unit", caps: s["CapabilityBoundingSet"], wantOK: true},
		{name: "without setuid and setgid", caps: "CAP_KILL", wantOK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
			api.AddClient(jobbergatetest.Client{ID: "cluster-unit", Secret: "unit-secret", Permissions: jobbergatetest.AgentScopes})
			script := api.AddJobScript(jobbergatetest.JobScript{Name: "held", OwnerEmail: "alice@example.org", Files: []jobbergatetest.File{{
				Filename: "held.sh", FileType: "ENTRYPOINT", Content: []byte("#!/bin/bash\n#SBATCH --output=/dev/null\nsleep 60\n"),
			}}})
			dir := alice.HomeDir
			id := api.AddSubmission(jobbergatetest.Submission{Name: "held", OwnerEmail: "alice@example.org", ClientID: "cluster-unit",
				JobScriptID: script, ExecutionDirectory: &dir, SbatchArguments: []string{"--hold"}})
			t.Cleanup(func() {
				if sub, _ := api.Submission(id); sub.SlurmJobID != nil {
					_ = exec.Command("scancel", strconv.Itoa(*sub.SlurmJobID)).Run()
				}
			})

			args := []string{"--bounding-set", setprivCaps(tc.caps), "--inh-caps", "-all"}
			if s["NoNewPrivileges"] == "yes" {
				args = append(args, "--no-new-privs")
			}
			args = append(args, bin, "--env-file", "none", "run")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := exec.CommandContext(ctx, setpriv, args...)
			cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
			cmd.WaitDelay = 60 * time.Second
			cmd.Env = []string{
				"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(),
				"JOBBERGATE_AGENT_BASE_API_URL=" + api.URL(),
				"JOBBERGATE_AGENT_OIDC_DOMAIN=" + api.OIDCDomain(),
				"JOBBERGATE_AGENT_OIDC_USE_HTTPS=false",
				"JOBBERGATE_AGENT_OIDC_CLIENT_ID=cluster-unit",
				"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=unit-secret",
				"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir(),
				"JOBBERGATE_AGENT_NATS_LISTEN=off",
				"JOBBERGATE_AGENT_METRICS_LISTEN=off",
				"JOBBERGATE_AGENT_ROLES=bridge,submit",
				"JOBBERGATE_AGENT_BRIDGE_POLL_INTERVAL=1s",
				"JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER=alice",
			}
			var logs testenv.SyncBuffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cancel()
				_ = cmd.Wait()
				if t.Failed() {
					t.Logf("agent log:\n%s", logs.String())
				}
			}()
			sub := func() jobbergatetest.Submission { s, _ := api.Submission(id); return s }
			if tc.wantOK {
				testenv.Eventually(t, 90*time.Second, func() bool { return sub().Status == "SUBMITTED" },
					"not submitted with the unit's capabilities (%s)", tc.caps)
				out, err := exec.Command("squeue", "-h", "-o", "%u", "-j", strconv.Itoa(*sub().SlurmJobID)).Output()
				if err != nil || strings.TrimSpace(string(out)) != "alice" {
					t.Errorf("job owner %q, %v; want alice", out, err)
				}
				return
			}
			testenv.Eventually(t, 90*time.Second, func() bool { return strings.Contains(logs.String(), "operation not permitted") },
				"without CAP_SETUID/CAP_SETGID the switch to alice should fail")
			if st := sub().Status; st == "SUBMITTED" {
				t.Errorf("submitted without CAP_SETUID/CAP_SETGID")
			}
		})
	}
}
