package metrics

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx/influxtest"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

const (
	servicesHow = "run `bash deploy/test-services.sh` as root (Slurm with SNS_INFLUX=1, InfluxDB 1.6.7 and 1.8.10)"
)

// burnScript is a job that touches 160 MB and keeps one CPU busy for 6 s in its batch step,
// then does the same in an srun step (step 0).
const burnScript = `#!/bin/sh
cat > burn.py <<'EOF'
import time
buf = bytearray(160 * 1024 * 1024)
for i in range(0, len(buf), 4096):
    buf[i] = 1
end = time.time() + 6
n = 0
while time.time() < end:
    n += 1
EOF
/usr/bin/python3 burn.py
srun -n1 /usr/bin/python3 burn.py
`

func slurmConfig(key string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scontrol", "show", "config").Output()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// profiledSlurm returns a Slurm client and a function that submits a script as alice with
// --profile=task (cancelled when the test ends). It requires root, a running Slurm with the
// InfluxDB profile plugin, and the InfluxQL server the plugin writes to; it returns that
// server's URL.
func profiledSlurm(t *testing.T) (*slurm.Client, func(script string) int64, string) {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "the real-Slurm tests submit as alice: run them as root")
	v1 := influxtest.Env()["INFLUX_TEST_V1_URL"]
	testenv.Require(t, "influxdb", influxtest.Ping(v1), "no InfluxDB answers at INFLUX_TEST_V1_URL="+v1+": "+servicesHow)
	testenv.Require(t, "slurm", slurmConfig("ClusterName") != "", "slurmctld does not answer `scontrol show config`: "+servicesHow)
	testenv.Require(t, "slurm influxdb profile plugin",
		slurmConfig("AcctGatherProfileType") == "acct_gather_profile/influxdb", "Slurm runs without acct_gather_profile/influxdb: "+servicesHow)
	sc, err := slurm.New(slurm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := sc.LookupUser("alice")
	testenv.Require(t, "slurm", err == nil, "no local user alice: "+servicesHow)
	dir, err := os.MkdirTemp("/tmp", "jbg-metrics-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, int(alice.UID), int(alice.GID)); err != nil {
		t.Fatal(err)
	}
	submit := func(script string) int64 {
		t.Helper()
		res, err := sc.Submit(context.Background(), slurm.SubmitRequest{User: alice, Dir: dir, Script: []byte(script),
			ExtraArgs: []string{"--profile=task", "--output=/dev/null", "--job-name=jbg-metrics-test", "--mem=600M"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sc.Cancel(context.Background(), res.JobID) })
		return res.JobID
	}
	return sc, submit, v1
}

// jobTimes reads a finished job's start and end (epoch s) from Slurm's job info.
// jobTimes reads a finished job's start and end (epoch seconds) from its job_info: the JSON job
// object's start_time/end_time (a number, or {set, number} from 23.02 on), or scontrol's
// StartTime/EndTime (Slurm 22.05's Key=Value record, local time).
func jobTimes(t *testing.T, j slurm.JobData) (start, end int64) {
	t.Helper()
	var info map[string]json.RawMessage
	if err := json.Unmarshal([]byte(j.JobInfo), &info); err != nil {
		t.Fatalf("job %d: job info is not an object (%v): %.300s", j.JobID, err, j.JobInfo)
	}
	read := func(jsonKey, pairsKey string) int64 {
		if raw, ok := info[pairsKey]; ok {
			var s string
			_ = json.Unmarshal(raw, &s)
			tm, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.Local)
			if err != nil {
				t.Fatalf("job %d: %s %q: %v", j.JobID, pairsKey, s, err)
			}
			return tm.Unix()
		}
		var n struct {
			Number int64 `json:"number"`
		}
		if json.Unmarshal(info[jsonKey], &n.Number) != nil {
			_ = json.Unmarshal(info[jsonKey], &n)
		}
		return n.Number
	}
	start, end = read("start_time", "StartTime"), read("end_time", "EndTime")
	if start == 0 || end < start {
		t.Fatalf("job %d: cannot read start/end from job info: %.300s", j.JobID, j.JobInfo)
	}
	return start, end
}

func sortRows(rows []jobbergatetest.MetricRow) {
	slices.SortFunc(rows, func(a, b jobbergatetest.MetricRow) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.NodeHost, b.NodeHost),
			cmp.Compare(a.Step, b.Step), cmp.Compare(a.Task, b.Task))
	})
}

// The acceptance test: a real job profiled by Slurm's InfluxDB plugin, the bridge and
// the real runner with this package's handler on an embedded broker, and the development API.
func TestEndToEndRealJob(t *testing.T) {
	sc, submit, v1 := profiledSlurm(t)
	ctx := context.Background()
	jobID := submit(burnScript)
	var job slurm.JobData
	testenv.Eventually(t, 180*time.Second, func() bool {
		j, err := sc.JobStates(ctx, []int64{jobID})
		job = j[jobID]
		return err == nil && (job.JobState == "COMPLETED" || job.JobState == "FAILED" || job.JobState == "CANCELLED")
	}, "job %d finished", jobID)
	if job.JobState != "COMPLETED" {
		t.Fatalf("job %d ended %s (%s)", jobID, job.JobState, job.StateReason)
	}
	start, end := jobTimes(t, job)
	t.Logf("job %d ran from %d to %d (%d s)", jobID, start, end, end-start)

	u, _ := url.Parse(v1)
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: "influxdb://" + u.Host + "/slurm", Timeout: 30 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	job4 := strconv.FormatInt(jobID, 10)
	// The plugin writes when a task ends, before the job is COMPLETED; give it a moment anyway.
	testenv.Eventually(t, 30*time.Second, func() bool {
		spans, err := src.Series(ctx, job4)
		return err == nil && len(spans) > 0
	}, "samples of job %d in InfluxDB", jobID)

	e := newEnv(t, src)
	sub := addSubmission(e.api, "SUBMITTED", int(jobID))
	e.start(t)
	if st := e.runCycle(t); st.Published != 1 {
		t.Fatalf("first cycle: %+v, want 1 published", st)
	}
	rows := e.api.Metrics(sub)
	if len(rows) == 0 {
		t.Fatalf("the API holds no metric rows for submission %d (dead letters: %v)", sub, e.deadLetters(t))
	}
	sortRows(rows)
	cpu, _ := influx.MeasurementIndex("CPUTime")
	rss, _ := influx.MeasurementIndex("RSS")
	var cpuSum, rssMax float64
	steps := map[int]int{}
	for _, r := range rows {
		if r.Time < start || r.Time > end {
			t.Errorf("row at %d outside the job's run %d..%d: %+v", r.Time, start, end, r)
		}
		cpuSum += r.Values[cpu]
		rssMax = max(rssMax, r.Values[rss])
		steps[r.Step]++
	}
	t.Logf("%d rows, steps %v, CPUTime sum %.2f s, RSS max %.0f KB", len(rows), steps, cpuSum, rssMax)
	if cpuSum <= 0 || rssMax <= 0 {
		t.Errorf("CPUTime sum %.2f, RSS max %.0f: want both non-zero", cpuSum, rssMax)
	}
	if rssMax < 100*1024 {
		t.Errorf("RSS max %.0f KB, want at least 100 MB for a job touching 160 MB", rssMax)
	}
	if steps[-5] == 0 || steps[0] == 0 {
		t.Errorf("want rows of the batch step (-5) and the srun step (0): steps %v", steps)
	}

	puts, gets := e.api.Calls("PUT", metricsPath), e.api.Calls("GET", metricsPath)
	if st := e.runCycle(t); st.Published != 1 {
		t.Fatalf("second cycle: %+v, want 1 published", st)
	}
	if got := e.api.Calls("GET", metricsPath); got <= gets {
		t.Errorf("second cycle did not sync (max-times reads %d then %d)", gets, got)
	}
	if got := e.api.Calls("PUT", metricsPath); got != puts {
		t.Errorf("second cycle made %d PUTs, want none (nothing new)", got-puts)
	}
	if n := len(e.api.Metrics(sub)); n != len(rows) {
		t.Errorf("after the second cycle the API holds %d rows, want %d", n, len(rows))
	}
	if d := e.deadLetters(t); len(d) != 0 {
		t.Errorf("dead letters: %v", d)
	}

	// The profile plugin writes to the InfluxQL server only; the Flux backend gets the same
	// real samples copied to InfluxDB 1.8.10 and must produce the same rows.
	t.Run("flux backend on the same samples", func(t *testing.T) {
		fluxURL := influxtest.Env()["INFLUX_TEST_FLUX_URL"]
		testenv.Require(t, "influxdb 1.8 with Flux", influxtest.Ping(fluxURL), "no InfluxDB 1.8 answers at INFLUX_TEST_FLUX_URL="+fluxURL+": "+servicesHow)
		db := copyJob(t, src, job4, fluxURL)
		fsrc, err := influx.NewFlux(influx.FluxOptions{URL: fluxURL, Token: ":", Bucket: db + "/autogen", Timeout: 30 * time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fsrc.Close() })
		fe := newEnv(t, fsrc)
		fsub := addSubmission(fe.api, "SUBMITTED", int(jobID))
		fe.start(t)
		fe.runCycle(t)
		got := fe.api.Metrics(fsub)
		sortRows(got)
		if !slices.Equal(got, rows) {
			t.Errorf("Flux backend stored %d rows, InfluxQL %d; they differ", len(got), len(rows))
		}
		puts := fe.api.Calls("PUT", metricsPath)
		fe.runCycle(t)
		if n := fe.api.Calls("PUT", metricsPath) - puts; n != 0 {
			t.Errorf("second Flux cycle made %d PUTs, want none", n)
		}
		if d := fe.deadLetters(t); len(d) != 0 {
			t.Errorf("dead letters: %v", d)
		}
	})
}

// copyJob copies every sample of job from src to a new database on the server at base (dropped
// when the test ends), in the plugin's line protocol, and returns the database name.
func copyJob(t *testing.T, src influx.Source, job, base string) string {
	t.Helper()
	db := influxtest.NewDB(t, base)
	var lines []string
	for m, name := range influx.Measurements {
		st, err := src.Query(context.Background(), job, m, influx.All)
		if err != nil {
			t.Fatal(err)
		}
		for {
			pts, err := st.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pts {
				lines = append(lines, fmt.Sprintf("%s,job=%s,step=%s,task=%s,host=%s value=%s %d",
					name, job, p.Step, p.Task, p.Host, strconv.FormatFloat(p.Value, 'f', -1, 64), p.Time))
			}
		}
		st.Close()
	}
	if len(lines) == 0 {
		t.Fatalf("no samples of job %s to copy", job)
	}
	db.Write(lines)
	return db.Name
}
