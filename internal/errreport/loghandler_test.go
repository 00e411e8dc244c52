package errreport

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Records at ERROR reach Sentry (a real HTTP server standing for it) with their attributes as
// tags, as the reference's logging integration sends them; lower levels do not, nothing is sent
// before SetReporter, and every record still reaches the wrapped handler.
func TestLogHandlerSendsErrorRecords(t *testing.T) {
	srv := &sentryServer{}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	r, err := New(Options{DSN: strings.Replace(ts.URL, "http://", "http://publickey@", 1) + "/42", SampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	h := NewLogHandler(slog.NewTextHandler(&out, nil))
	log := slog.New(h).With("component", "submit")

	log.Error("before the reporter is set")
	h.SetReporter(r)
	log.Warn("a warning stays local", "submission_id", 1)
	log.Error("submit message dead-lettered", "submission_id", 42, "reason", "sbatch refused")
	log.WithGroup("slurm").Error("state read failed", "job_id", 7)
	if !r.Flush(5 * time.Second) {
		t.Fatal("flush did not complete")
	}
	got := srv.all()
	for _, want := range []string{"submit message dead-lettered", `"submission_id":"42"`, `"component":"submit"`,
		`"reason":"sbatch refused"`, "state read failed", `"slurm.job_id":"7"`} {
		if !strings.Contains(got, want) {
			t.Errorf("Sentry did not get %s:\n%.2000s", want, got)
		}
	}
	for _, not := range []string{"a warning stays local", "before the reporter is set"} {
		if strings.Contains(got, not) {
			t.Errorf("Sentry got %q", not)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 4 {
		t.Errorf("the wrapped handler got %d records, want 4:\n%s", n, out.String())
	}
}
