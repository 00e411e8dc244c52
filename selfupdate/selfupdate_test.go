package selfupdate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

func upstreamFrom(t *testing.T, version string) func(context.Context) (string, error) {
	t.Helper()
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{Version: version})
	c, err := jobbergate.New(jobbergate.Options{BaseURL: api.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return c.APIVersion
}

// recorder writes a script that appends its arguments to a file, so the test sees what ran.
func recorder(t *testing.T, exit int) (argv0, record string) {
	t.Helper()
	dir := t.TempDir()
	record = filepath.Join(dir, "ran")
	argv0 = filepath.Join(dir, "update.sh")
	script := "#!/bin/sh\necho \"$@\" >> " + record + "\necho installing >&2\nexit " + string(rune('0'+exit)) + "\n"
	if err := os.WriteFile(argv0, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return argv0, record
}

func TestCheckAppliesTheReferenceRule(t *testing.T) {
	cases := []struct {
		current, upstream string
		needed            bool
	}{
		{"5.11.0", "5.11.0", false},
		{"5.11.0", "5.12.0", true},
		{"5.11.0", "5.11.3", true},
		{"5.12.0", "5.11.0", true}, // a downgrade within a major counts, as in the reference
		{"5.11.0", "6.0.0", false},
		{"6.0.0", "5.11.0", false},
	}
	for _, c := range cases {
		t.Run(c.current+"->"+c.upstream, func(t *testing.T) {
			argv0, record := recorder(t, 0)
			ch := New(Options{Current: c.current, Upstream: upstreamFrom(t, c.upstream), Command: []string{argv0, "jobbergate-agent=" + VersionPlaceholder}})
			r, err := ch.Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.Needed != c.needed || r.Updated != c.needed || r.Upstream != c.upstream {
				t.Fatalf("got %+v", r)
			}
			ran, _ := os.ReadFile(record)
			if c.needed && strings.TrimSpace(string(ran)) != "jobbergate-agent="+c.upstream {
				t.Errorf("update command got %q", ran)
			}
			if !c.needed && len(ran) > 0 {
				t.Errorf("no update needed but the command ran: %q", ran)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	argv0, record := recorder(t, 1)
	_, err := New(Options{Current: "5.11.0", Upstream: upstreamFrom(t, "5.11.1"), Command: []string{argv0}}).Check(context.Background())
	if !errors.Is(err, ErrCommandFailed) || !strings.Contains(err.Error(), "installing") {
		t.Errorf("a failing command must be ErrCommandFailed with its output, got %v", err)
	}
	if _, err := os.Stat(record); err != nil {
		t.Error("the command did not run")
	}
	for _, bad := range []string{"1.0", "1.0.1a", "5.11"} {
		_, err := New(Options{Current: "5.11.0", Upstream: upstreamFrom(t, bad), Command: []string{argv0}}).Check(context.Background())
		if !errors.Is(err, jobbergate.ErrInvalidVersion) {
			t.Errorf("upstream %q: want ErrInvalidVersion, got %v", bad, err)
		}
	}
	r, err := New(Options{Current: "5.11.0", Upstream: upstreamFrom(t, "5.11.2")}).Check(context.Background())
	if err != nil || !r.Needed || r.Updated {
		t.Errorf("without a command the check only reports: %+v %v", r, err)
	}
}

func TestRunStopsAfterAnUpdate(t *testing.T) {
	argv0, _ := recorder(t, 0)
	ch := New(Options{Current: "5.11.0", Upstream: upstreamFrom(t, "5.11.9"), Command: []string{argv0}})
	got := make(chan Result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ch.Run(ctx, 20*time.Millisecond, func(r Result) { got <- r }); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.Upstream != "5.11.9" || !r.Updated {
			t.Errorf("got %+v", r)
		}
	default:
		t.Fatal("Run returned without an update")
	}
}
