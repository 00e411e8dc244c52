package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/cli"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const startSlurm = "run `deploy/slurm/slurm-single-node.sh start` as root (creates alice and bob)"

func TestLocalPartMapper(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		email, want string
		notFound    bool
	}{
		{email: u.Username + "@example.org", want: u.Username},
		{email: " " + strings.ToUpper(u.Username) + "@Example.ORG ", want: u.Username},
		{email: "no-such-user-jbg@example.org", notFound: true},
		{email: "not-an-email", notFound: true},
		{email: "../etc@example.org", notFound: true},
	} {
		got, err := localPart{}.Username(context.Background(), tc.email)
		if tc.notFound {
			if err == nil {
				t.Errorf("%q: got %q, want not found", tc.email, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.email, got, err, tc.want)
		}
	}
}

// TestSiteAgentExtensions runs the agent built with the example's registry against the
// development API and the real Slurm: the site mapper picks the Unix user (alice's submission
// is submitted, an unknown local part is rejected with the mapper's message), the stamp task
// runs, and the audit middleware records the submissions.
func TestSiteAgentExtensions(t *testing.T) {
	testenv.Require(t, "root", testenv.IsRoot(), "the agent switches to alice: run the tests as root")
	ping, err := exec.Command("scontrol", "ping").CombinedOutput()
	testenv.Require(t, "slurm", err == nil && strings.Contains(string(ping), "UP"), "slurmctld does not answer `scontrol ping`: "+startSlurm)
	alice, err := user.Lookup("alice")
	testenv.Require(t, "slurm", err == nil, "no local user alice: "+startSlurm)

	var audit testenv.SyncBuffer
	stamp := filepath.Join(t.TempDir(), "site", "alive")
	reg, err := newRegistry(siteConfig{AuditOut: &audit, StampFile: stamp, StampEvery: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	api.AddClient(jobbergatetest.Client{ID: "cluster-site", Secret: "site-secret", Permissions: jobbergatetest.AgentScopes})
	script := api.AddJobScript(jobbergatetest.JobScript{Name: "held", OwnerEmail: "alice@example.org", Files: []jobbergatetest.File{{
		Filename: "held.sh", FileType: "ENTRYPOINT", Content: []byte("#!/bin/bash\n#SBATCH --output=/dev/null\nsleep 60\n"),
	}}})
	workDir := alice.HomeDir
	okID := api.AddSubmission(jobbergatetest.Submission{Name: "alice held", OwnerEmail: "alice@example.org", ClientID: "cluster-site",
		JobScriptID: script, ExecutionDirectory: &workDir, SbatchArguments: []string{"--hold"}})
	badID := api.AddSubmission(jobbergatetest.Submission{Name: "nobody", OwnerEmail: "no-such-user-jbg@example.org", ClientID: "cluster-site",
		JobScriptID: script})
	t.Cleanup(func() {
		for _, s := range api.Submissions() {
			if s.SlurmJobID != nil {
				_ = exec.Command("scancel", strconv.Itoa(*s.SlurmJobID)).Run()
			}
		}
	})

	env := []string{
		"JOBBERGATE_AGENT_BASE_API_URL=" + api.URL(),
		"JOBBERGATE_AGENT_OIDC_DOMAIN=" + api.OIDCDomain(),
		"JOBBERGATE_AGENT_OIDC_USE_HTTPS=false",
		"JOBBERGATE_AGENT_OIDC_CLIENT_ID=cluster-site",
		"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=site-secret",
		"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir(),
		"JOBBERGATE_AGENT_NATS_LISTEN=127.0.0.1:0",
		"JOBBERGATE_AGENT_METRICS_LISTEN=127.0.0.1:0",
		"JOBBERGATE_AGENT_ROLES=bridge,submit,update",
		"JOBBERGATE_AGENT_BRIDGE_POLL_INTERVAL=1s",
		"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=10",
		"JOBBERGATE_AGENT_SLURM_USER_MAPPER=" + LocalPartMapper,
	}
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"--env-file", "none", "run"}, env, &bytes.Buffer{}, &logs, cli.WithExtensions(reg))
	}()
	defer func() {
		if t.Failed() {
			t.Logf("submissions: %+v\nagent log:\n%s", api.Submissions(), logs.String())
		}
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("agent exit code %d:\n%s", code, logs.String())
			}
		case <-time.After(90 * time.Second):
			t.Error("the agent did not stop")
		}
	}()

	status := func(id int) jobbergatetest.Submission { s, _ := api.Submission(id); return s }
	testenv.Eventually(t, 90*time.Second, func() bool {
		return status(okID).Status == "SUBMITTED" && status(badID).Status == "REJECTED"
	}, "submissions not settled")

	// The site mapper chose alice: Slurm shows the job as hers.
	ok := status(okID)
	out, err := exec.Command("squeue", "-h", "-o", "%u", "-j", strconv.Itoa(*ok.SlurmJobID)).Output()
	if err != nil || strings.TrimSpace(string(out)) != "alice" {
		t.Errorf("job %d owner: %q, %v; want alice", *ok.SlurmJobID, out, err)
	}
	if msg := status(badID).ReportMessage; msg == nil || !strings.Contains(*msg, `no local user "no-such-user-jbg"`) {
		t.Errorf("rejection message does not come from the site mapper: %v", msg)
	}
	// The periodic task ran (and keeps running: the stamp's time moves).
	testenv.Eventually(t, 10*time.Second, func() bool { _, err := os.Stat(stamp); return err == nil }, "the stamp task never ran")
	first, _ := os.Stat(stamp)
	testenv.Eventually(t, 10*time.Second, func() bool {
		st, err := os.Stat(stamp)
		return err == nil && st.ModTime().After(first.ModTime())
	}, "the stamp task ran only once")
	// The audit middleware saw both pending submissions and a batch of active ones. The active
	// batch comes with the next 10 s update cycle, after one squeue --json of every job slurmctld
	// holds, which takes seconds when other tests have left thousands of jobs there.
	testenv.Eventually(t, 90*time.Second, func() bool {
		a := audit.String()
		return strings.Contains(a, `"submission_id":"`+strconv.Itoa(okID)+`"`) &&
			strings.Contains(a, `"submission_id":"`+strconv.Itoa(badID)+`"`) &&
			strings.Contains(a, `"msg":"active submissions checked"`)
	}, "audit log incomplete")
	t.Logf("audit log:\n%s", audit.String())
	if !strings.Contains(logs.String(), "site:stamp") {
		t.Errorf("the agent did not list the site task among its tasks:\n%s", logs.String())
	}
}
