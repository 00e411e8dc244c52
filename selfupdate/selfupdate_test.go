package selfupdate

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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

func TestCheckUpdatesOnlyToANewerVersion(t *testing.T) {
	cases := []struct {
		current, upstream string
		needed            bool
	}{
		{"5.11.0", "5.11.0", false},
		{"5.11.0", "5.12.0", true},
		{"5.11.0", "5.11.3", true},
		{"5.12.0", "5.11.0", false}, // a downgrade within a major: the reference would, the agent never does
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

// The attack: the API (or whoever answers for it) reports a version of its choosing to make the
// root agent install an older release with known flaws, or a string that is not a release at
// all (a pre-release, or text that would end up in the command's arguments). None of them runs
// the update command.
func TestCheckNeverDowngradesNorTakesGarbage(t *testing.T) {
	const current = "5.11.3"
	lower := []string{"5.11.3", "5.11.2", "5.11.0", "5.10.99", "5.0.0", "4.99.99", "6.0.0"}
	garbage := []string{"5.12.0rc1", "5.12.0-rc.1", "5.12.0a1", "v5.12.0", "5.12.0+build.7", " 5.12.0", "5.12.0\n",
		"5.12", "5.12.0.1", "5.12.0 --index-url=http://evil", "5.12.0;id", "99999999999999999999.0.0", "5.-1.0", "５.12.0"}
	for _, up := range append(lower, garbage...) {
		t.Run(up, func(t *testing.T) {
			argv0, record := recorder(t, 0)
			logs := &strings.Builder{}
			ch := New(Options{Current: current, Upstream: upstreamFrom(t, up),
				Command: []string{argv0, "jobbergate-agent==" + VersionPlaceholder}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			r, err := ch.Check(context.Background())
			if slices.Contains(garbage, up) {
				if !errors.Is(err, jobbergate.ErrInvalidVersion) {
					t.Errorf("want ErrInvalidVersion, got %v", err)
				}
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
			if r.Needed || r.Updated {
				t.Errorf("result %+v", r)
			}
			if ran, err := os.ReadFile(record); err == nil {
				t.Fatalf("the update command ran for upstream %q: %q", up, ran)
			}
			if c, _ := jobbergate.CompareVersions(up, current); c < 0 && !strings.Contains(logs.String(), "not downgrading") {
				t.Errorf("no warning for an older upstream:\n%s", logs.String())
			}
		})
	}
}

// The update command runs as root with whatever its environment holds: it must get nothing of
// the agent's (whose JOBBERGATE_AGENT_* settings hold the OIDC client secret), only PATH and
// LANG. The command is a script that writes `env` to a file.
func TestUpdateCommandGetsAMinimalEnvironment(t *testing.T) {
	const secret = "oidc-secret-must-not-leak-4f1c"
	t.Setenv("JOBBERGATE_AGENT_OIDC_CLIENT_SECRET", secret)
	t.Setenv("JOBBERGATE_AGENT_OIDC_CLIENT_ID", "agent-client")
	t.Setenv("JOBBERGATE_AGENT_SENTRY_DSN", "https://key@sentry.example/1")
	t.Setenv("LANG", "fr_FR.UTF-8")
	t.Setenv("PATH", t.TempDir()+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("HOME", "/root")

	dir := t.TempDir()
	dump := filepath.Join(dir, "env")
	script := filepath.Join(dir, "update.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > "+dump+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Current: "5.11.0", Upstream: upstreamFrom(t, "5.11.1"), Command: []string{script}}).Check(context.Background())
	if err != nil || !r.Updated {
		t.Fatalf("%+v %v", r, err)
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Fatalf("the OIDC client secret reached the update command:\n%s", b)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{"PATH": MinimalPath, "LANG": "C",
		"PWD": "/"} // PWD: set by sh itself from its working directory, which is /
	for k, v := range got {
		if w, ok := want[k]; !ok || v != w {
			t.Errorf("the update command's environment holds %s=%q", k, v)
		}
	}
	if got["PATH"] != MinimalPath || got["LANG"] != "C" {
		t.Errorf("PATH %q, LANG %q", got["PATH"], got["LANG"])
	}
}

// A command named without a slash is looked up in MinimalPath, not in the agent's PATH: a
// program of the same name placed in a directory of the agent's PATH is never run.
func TestUpdateCommandNameIsNotLookedUpInTheAgentsPath(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "ran")
	name := "jobbergate-selfupdate-test-command"
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\ntouch "+record+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	_, err := New(Options{Current: "5.11.0", Upstream: upstreamFrom(t, "5.11.1"), Command: []string{name}}).Check(context.Background())
	if !errors.Is(err, ErrCommandFailed) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("want a not-found ErrCommandFailed, got %v", err)
	}
	if _, err := os.Stat(record); err == nil {
		t.Fatal("the command was taken from the agent's PATH")
	}
	// A name that is in MinimalPath runs.
	r, err := New(Options{Current: "5.11.0", Upstream: upstreamFrom(t, "5.11.1"), Command: []string{"true"}}).Check(context.Background())
	if err != nil || !r.Updated {
		t.Errorf("true from %s: %+v %v", MinimalPath, r, err)
	}
}
