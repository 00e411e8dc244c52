package cli

import (
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// heldSubmissions adds n submissions of a held job for alice, in her home directory, and
// cancels their Slurm jobs when the test ends.
func heldSubmissions(t *testing.T, api *jobbergatetest.Server, client string, n int) []int {
	t.Helper()
	home, err := exec.Command("sh", "-c", "getent passwd alice | cut -d: -f6").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimSpace(string(home))
	script := api.AddJobScript(jobbergatetest.JobScript{Name: "held", OwnerEmail: "alice@example.org", Files: []jobbergatetest.File{{
		Filename: "held.sh", FileType: "ENTRYPOINT", Content: []byte("#!/bin/bash\n#SBATCH --output=/dev/null\nsleep 60\n"),
	}}})
	ids := make([]int, n)
	for i := range ids {
		ids[i] = api.AddSubmission(jobbergatetest.Submission{Name: "held " + strconv.Itoa(i), OwnerEmail: "alice@example.org",
			ClientID: client, JobScriptID: script, ExecutionDirectory: &dir, SbatchArguments: []string{"--hold"}})
	}
	t.Cleanup(func() {
		for _, id := range ids {
			if s, _ := api.Submission(id); s.SlurmJobID != nil {
				_ = exec.Command("scancel", strconv.Itoa(*s.SlurmJobID)).Run()
			}
		}
	})
	return ids
}

// scrape returns the value of the first series of /metrics matching the pattern (a regular
// expression for the series name and labels), or -1.
func scrapeValue(body, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + series + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsCountWork runs an agent that submits a few held jobs to the real Slurm, then
// scrapes /metrics: the named series exist and count the work that was done.
func TestMetricsCountWork(t *testing.T) {
	requireSlurm(t)
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	env := append(agentEnv(t, api, "bridge,submit,update,health"),
		"JOBBERGATE_AGENT_BRIDGE_POLL_INTERVAL=1s",
		"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=10",
		"JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER=alice")
	const n = 3
	ids := heldSubmissions(t, api, "cluster-test", n)
	a := startAgent(t, env)
	addr := a.logValue("metrics and health endpoints listening", "addr")
	if addr == "" {
		t.Fatal("no metrics address in the log by the time the agent said it started")
	}
	testenv.Eventually(t, 90*time.Second, func() bool {
		for _, id := range ids {
			if s, _ := api.Submission(id); s.Status != "SUBMITTED" {
				return false
			}
		}
		return true
	}, "the held jobs were not all submitted")

	var body string
	want := map[string]float64{
		`jobbergate_agent_messages_total\{consumer="submit",outcome="ack"\}`: n,
		`jobbergate_agent_handler_seconds_count\{consumer="submit"\}`:        n,
		`jobbergate_agent_sbatch_seconds_count\{[^}]*\}`:                     n,
		`jobbergate_agent_api_request_seconds_count\{[^}]*\}`:                1,
		`jobbergate_agent_messages_total\{consumer="update",outcome="ack"\}`: 1,
		`jobbergate_agent_queue_waiting_messages\{queue="submit"\}`:          0,
		`jobbergate_agent_dead_letters`:                                      0,
		`jobbergate_agent_queue_inflight_messages\{queue="submit"\}`:         0,
	}
	testenv.Eventually(t, 60*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		for series, min := range want {
			if v := scrapeValue(body, series); v < min {
				return false
			}
		}
		return true
	}, "the series did not reach their counts")
	for series, min := range want {
		v := scrapeValue(body, series)
		t.Logf("%s = %g", series, v)
		if v < min {
			t.Errorf("%s = %g, want >= %g", series, v, min)
		}
	}
}
