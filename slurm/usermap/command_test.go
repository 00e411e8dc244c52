package usermap_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// writeProgram writes an executable script to a new temporary directory and returns its path.
func writeProgram(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mapper.sh")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandMapper(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		email    string
		want     string
		notFound bool   // want an IsNotFound error
		errText  string // the error must contain it (both kinds)
	}{
		{name: "ok", script: "echo alice", email: "alice@example.org", want: "alice"},
		{name: "surrounding space", script: "printf '  bob \\n\\n'", email: "bob@example.org", want: "bob"},
		{name: "name from argv", script: `echo "${1%%@*}"`, email: "carol@example.org", want: "carol"},
		{name: "not found exit 2", script: "echo 'no such person' >&2; exit 2", email: "x@example.org",
			notFound: true, errText: "found no user for email=x@example.org: no such person"},
		{name: "empty output", script: "exit 0", email: "x@example.org", notFound: true, errText: "printed no user"},
		{name: "invalid name", script: "echo 'root;reboot'", email: "x@example.org", notFound: true,
			errText: "not a valid local user name"},
		{name: "numeric name", script: "echo 0", email: "x@example.org", notFound: true, errText: "only digits"},
		{name: "two lines", script: "echo alice; echo bob", email: "x@example.org", notFound: true,
			errText: "more than one user name"},
		{name: "huge output", script: "i=0; while [ $i -lt 2000 ]; do printf aaaaa; i=$((i+1)); done", email: "x@example.org",
			notFound: true, errText: "more than one user name"},
		{name: "exit 1 is transient", script: "echo 'directory unreachable' >&2; exit 1", email: "x@example.org",
			errText: "exit status 1 (stderr: directory unreachable)"},
		{name: "signal is transient", script: "kill -9 $$", email: "x@example.org", errText: "signal: killed"},
		{name: "invalid email is not passed", script: "echo alice", email: "alice@example.org; rm -rf /",
			notFound: true, errText: "is not a plain e-mail address the cluster can map"},
		{name: "option-like email is not passed", script: "echo alice", email: "-rf@example.org",
			notFound: true, errText: "starts with '-'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := usermap.NewCommand(usermap.CommandConfig{Program: writeProgram(t, "#!/bin/sh\n"+tt.script+"\n")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			u, err := m.Username(context.Background(), tt.email)
			if tt.errText == "" {
				if err != nil || u != tt.want {
					t.Fatalf("Username = %q, %v; want %q", u, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Username = %q, want an error containing %q", u, tt.errText)
			}
			if usermap.IsNotFound(err) != tt.notFound {
				t.Errorf("IsNotFound(%v) = %v, want %v", err, !tt.notFound, tt.notFound)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not contain %q", err, tt.errText)
			}
		})
	}
}

func TestCommandMapperEnvironmentAndArgs(t *testing.T) {
	t.Setenv("USERMAP_TEST_SECRET", "do-not-leak")
	dir := t.TempDir()
	script := "#!/bin/sh\nenv > " + dir + "/env.txt\nprintf '%s|' \"$#\" \"$@\" > " + dir + "/args.txt\npwd > " + dir + "/pwd.txt\necho alice\n"
	m, err := usermap.NewCommand(usermap.CommandConfig{Program: writeProgram(t, script), Path: "/usr/bin:/bin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := m.Username(context.Background(), "a*b@example.org"); err != nil || u != "alice" {
		t.Fatalf("Username = %q, %v", u, err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("args.txt"); got != "1|a*b@example.org|" {
		t.Errorf("program arguments = %q, want exactly the e-mail, unexpanded", got)
	}
	if got := strings.TrimSpace(read("pwd.txt")); got != "/" {
		t.Errorf("working directory = %q, want /", got)
	}
	env := read("env.txt")
	if !strings.Contains(env, "PATH=/usr/bin:/bin\n") {
		t.Errorf("environment %q lacks the fixed PATH", env)
	}
	for _, leaked := range []string{"USERMAP_TEST_SECRET", "HOME=", "GOPATH"} {
		if strings.Contains(env, leaked) {
			t.Errorf("environment leaks %s: %q", leaked, env)
		}
	}
}

func TestCommandMapperTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	// The child keeps stdout open: without killing the group, Wait would block until it ends.
	script := "#!/bin/sh\n(sleep 30; touch " + dir + "/survived) &\necho $! > " + dir + "/child.pid\nsleep 30\necho alice\n"
	m, err := usermap.NewCommand(usermap.CommandConfig{Program: writeProgram(t, script), Timeout: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Username(context.Background(), "alice@example.org")
	if !errors.Is(err, context.DeadlineExceeded) || usermap.IsNotFound(err) {
		t.Fatalf("error = %v, want a transient deadline error", err)
	}
	b, rerr := os.ReadFile(filepath.Join(dir, "child.pid"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid := strings.TrimSpace(string(b))
	// The killed child is gone (or a zombie reaped by init soon after).
	proc := filepath.Join("/proc", pid, "stat")
	alive := func() bool {
		st, err := os.ReadFile(proc)
		return err == nil && !strings.Contains(string(st), ") Z ")
	}
	// SIGKILL is delivered asynchronously: give the kernel a moment to end the child.
	testenv.Eventually(t, 2*time.Second, func() bool { return !alive() }, "child %s of the timed-out program still runs", pid)
}

func TestCommandMapperCanceledContext(t *testing.T) {
	m, err := usermap.NewCommand(usermap.CommandConfig{Program: writeProgram(t, "#!/bin/sh\nsleep 30\n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Username(ctx, "alice@example.org"); !errors.Is(err, context.Canceled) || usermap.IsNotFound(err) {
		t.Fatalf("error = %v, want a transient cancellation", err)
	}
}

func TestNewCommandValidation(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(notExec, []byte("echo alice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		program string
		wantErr string
	}{
		{"", "the program path is required"},
		{"mapper.sh", "is not an absolute path"},
		{filepath.Join(dir, "missing"), "no such file"},
		{notExec, "is not an executable file"},
		{dir, "is not an executable file"},
	}
	for _, tt := range tests {
		_, err := usermap.NewCommand(usermap.CommandConfig{Program: tt.program}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("NewCommand(%q) = %v, want error containing %q", tt.program, err, tt.wantErr)
		}
	}
}

// Names found are reused for CacheTTL; "no user" answers are never cached.
func TestCommandMapperCache(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	script := "#!/bin/sh\necho x >> " + runs + "\ncase \"$1\" in alice@*) echo alice ;; *) exit 2 ;; esac\n"
	count := func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "x")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		ttl      time.Duration
		wantRuns int // after 3 lookups of alice and 2 of an unknown address
	}{
		{"cached for an hour", time.Hour, 1 + 2},
		{"expired at once", time.Nanosecond, 3 + 2},
		{"no cache", 0, 3 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(runs)
			m, err := usermap.NewCommand(usermap.CommandConfig{Program: writeProgram(t, script), CacheTTL: tc.ttl}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if u, err := m.Username(ctx, "alice@example.org"); err != nil || u != "alice" {
					t.Fatalf("Username(alice) = %q, %v", u, err)
				}
			}
			for range 2 {
				if _, err := m.Username(ctx, "nobody@example.org"); !usermap.IsNotFound(err) {
					t.Fatalf("Username(nobody) err = %v, want not found", err)
				}
			}
			if got := count(); got != tc.wantRuns {
				t.Errorf("program ran %d times, want %d", got, tc.wantRuns)
			}
		})
	}
}

// With a cache, lookups of one e-mail that miss it together share one run; a caller that
// gives up returns at once without failing the others.
func TestCommandMapperConcurrentMissesShareOneRun(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	script := "#!/bin/sh\necho x >> " + runs + "\nsleep 0.5\necho alice\n"
	m, err := usermap.NewCommand(usermap.CommandConfig{Program: writeProgram(t, script), CacheTTL: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	const n = 8
	errs := make(chan error, n+1)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			u, err := m.Username(context.Background(), "alice@example.org")
			if err == nil && u != "alice" {
				err = fmt.Errorf("got %q", u)
			}
			errs <- err
		})
	}
	quit := make(chan error, 1)
	go func() {
		_, err := m.Username(gone, "alice@example.org")
		quit <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-quit:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller err = %v, want context.Canceled", err)
		}
	case <-time.After(300 * time.Millisecond):
		t.Error("a cancelled caller waited for the shared run")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Username: %v", err)
		}
	}
	b, _ := os.ReadFile(runs)
	if got := strings.Count(string(b), "x"); got != 1 {
		t.Errorf("program ran %d times for %d concurrent lookups, want 1", got, n+1)
	}
}

// Attack: a portal user sets an owner e-mail that a site program could take for an option, or
// that a site script splicing its argument into a shell command line would run. The mapper
// program (built through the registry, as the agent does) records every argument it gets and
// then does exactly that splicing; none of these addresses may reach it, each is a not-found
// error saying the address is not a plain one, and a plain address still does.
func TestCommandMapperOnlyPlainEmailsReachProgram(t *testing.T) {
	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	pwned := filepath.Join(dir, "pwned")
	if err := os.WriteFile(args, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" >> " + args + "\n" +
		"sh -c \"echo $1\" > /dev/null 2>&1\n" + // the careless site script
		"echo \"${1%%@*}\" | tr -cd 'a-z'\n"
	m, err := usermap.NewDefaultRegistry().New(usermap.CommandMapperName,
		usermap.Options{Command: usermap.CommandConfig{Program: writeProgram(t, script)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hostile := []string{
		`"a;touch /tmp/x"@example.com`,
		`"a;touch ` + pwned + `"@example.com`,
		"-rf@example.com",
		"--help@example.com",
		"a b@example.com",
		"$(id)@example.com",
		"$(touch${IFS}" + pwned + ")@example.com",
		"a..b@example.com",
		".a@example.com",
		"a.@example.com",
		"a;touch" + pwned + "@example.com",
		"a|id@example.com",
		"a&id@example.com",
		"a`id`@example.com",
		"a$HOME@example.com",
		"a>x@example.com",
		"a<x@example.com",
		"a\tb@example.com",
		"a\nb@example.com",
		"a\x00b@example.com",
		"a\x7fb@example.com",
		"\"alice\"@example.com",
		"Alice <alice@example.com>",
		"alice@example.com ",
		"alice(comment)@example.com",
		"alice\\x@example.com",
		"élise@example.com",
		"alice@example.com;id",
		"alice@-example.com",
		"alice@example-.com",
		"alice@exa_mple.com",
		"alice@example..com",
		"alice@example.com.",
		"alice@[127.0.0.1]",
		"alice@",
		"@example.com",
		"alice",
		"",
		strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat(strings.Repeat("b", 60)+".", 5) + "com", // 310 bytes
	}
	for _, email := range hostile {
		u, err := m.Username(ctx, email)
		if err == nil || !usermap.IsNotFound(err) {
			t.Errorf("Username(%q) = %q, %v; want a not-found error", email, u, err)
			continue
		}
		if !strings.Contains(err.Error(), "is not a plain e-mail address the cluster can map") {
			t.Errorf("Username(%q) error %q does not say the address is not a plain one", email, err)
		}
	}
	if b, err := os.ReadFile(args); err != nil || len(b) != 0 {
		t.Fatalf("the mapper program was run with %q (read err %v); no hostile address may reach it", b, err)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a hostile address ran a command through the site script")
	}

	for email, want := range map[string]string{
		"alice.smith+hpc@example.com":     "alicesmithhpc",
		"o'brien@mail.example-1.org":      "obrien",
		"a_b-c=d?e^f{g}h~i#j%k!l*m/n@x.y": "abcdefghijklmn",
	} {
		if err := os.WriteFile(args, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		u, err := m.Username(ctx, email)
		if err != nil || u != want {
			t.Errorf("Username(%q) = %q, %v; want %q", email, u, err, want)
		}
		if b, _ := os.ReadFile(args); string(b) != email+"\n" {
			t.Errorf("the program got %q for %q, want exactly the address", b, email)
		}
	}
}
