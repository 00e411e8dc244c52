package metrics

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// Through the real runner: a job synced fine is acked, a job whose metrics the API refuses
// lands in DEAD once with the API's detail (and is held the next cycle), and a job whose
// InfluxDB reads keep failing is retried until MaxDeliver (3 here) and then dead-lettered.
func TestRunnerDecisions(t *testing.T) {
	src := newMemSource()
	e := newEnv(t, src)
	good := addSubmission(e.api, "SUBMITTED", 11)
	refused := addSubmission(e.api, "SUBMITTED", 12)
	src.add("11", samples("vm", "-5", "0", 1000, 1009)...)
	src.add("12", samples("vm", "-5", "0", 1000, 1009)...)
	// Every PUT of the refused submission answers 400.
	e.api.FailNext("PUT", metricsPath+strconv.Itoa(refused), 400, 1000)
	e.start(t)
	e.runCycle(t)
	if n := len(e.api.Metrics(good)); n != 10 {
		t.Errorf("good job: %d rows, want 10", n)
	}
	dead := e.deadLetters(t)
	if r := dead[strconv.Itoa(refused)]; !strings.Contains(r, "metrics refused by the API: HTTP 400: injected failure") {
		t.Errorf("refused job's dead letter reason %q", r)
	}
	if len(dead) != 1 {
		t.Errorf("dead letters %v, want only the refused job", dead)
	}
	puts := e.api.Calls("PUT", metricsPath+strconv.Itoa(refused))
	e.runCycle(t)
	if n := e.api.Calls("PUT", metricsPath+strconv.Itoa(refused)) - puts; n != 0 {
		t.Errorf("held job: %d PUTs in the next cycle, want 0", n)
	}
	if n := len(e.deadLetters(t)); n != 1 {
		t.Errorf("%d dead letters after the next cycle, want still 1", n)
	}

	// InfluxDB down for every job: retried, then dead-lettered after 3 deliveries.
	src.setErr(errors.New("influx down"))
	flaky := addSubmission(e.api, "SUBMITTED", 13)
	e.cycle(t)
	testenv.Eventually(t, 30*time.Second, func() bool { _, ok := e.deadLetters(t)[strconv.Itoa(flaky)]; return ok },
		"submission %d dead-lettered", flaky)
	if r := e.deadLetters(t)[strconv.Itoa(flaky)]; !strings.Contains(r, "influx down") {
		t.Errorf("flaky job's dead letter reason %q", r)
	}
}

// Through the real runner: an upload that keeps failing with 503 costs, per delivery, the API
// client's attempts (2 here) and nothing more; JetStream redelivers the message until
// MaxDeliver (3 here), then it lands in DEAD: 6 uploads in all.
func TestRunnerUploadAttemptsBound(t *testing.T) {
	src := newMemSource()
	e := newEnv(t, src)
	sub := addSubmission(e.api, "SUBMITTED", 21)
	src.add("21", samples("vm", "-5", "0", 1000, 1009)...)
	e.api.FailNext("PUT", metricsPath, 503, 1000)
	e.start(t)
	e.cycle(t)
	testenv.Eventually(t, 30*time.Second, func() bool { _, ok := e.deadLetters(t)[strconv.Itoa(sub)]; return ok },
		"submission %d dead-lettered", sub)
	if r := e.deadLetters(t)[strconv.Itoa(sub)]; !strings.Contains(r, "giving up after 3 deliveries") {
		t.Errorf("dead letter reason %q", r)
	}
	if got := e.api.Calls("PUT", metricsPath); got != 3*2 {
		t.Errorf("%d uploads, want 6 (3 deliveries x 2 client attempts)", got)
	}
}
