// Package slurmtest provides recording fake Slurm programs for tests: a fake sbatch, squeue,
// scontrol or scancel is a small script that records each call (argv, stdin, environment, uid,
// groups, working directory) and answers with configured output and exit code. It covers what a
// real single-node Slurm cannot produce (federated "id;cluster" sbatch output, 24.11 JSON) and
// tests without Slurm installed.
//
// The fake lives in a directory every user can enter, so it also works when the code under test
// runs it as another user.
package slurmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Response is what the fake prints and returns.
type Response struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Call is one recorded invocation.
type Call struct {
	Args   []string // argv without the program name
	Stdin  string
	Env    []string // the complete environment, in the order env printed it
	UID    int
	Groups []int // id -G: effective gid first, then the supplementary groups
	Dir    string
}

// Getenv returns the value of key in the call's environment and whether it was set.
func (c Call) Getenv(key string) (string, bool) {
	for _, kv := range c.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Fake is one fake program. Its methods are safe for concurrent use.
type Fake struct {
	// Path is the absolute path of the program to hand to the code under test.
	Path string
	dir  string
	mu   sync.Mutex
}

const script = `#!/bin/sh
d=%q
i=0
while ! /usr/bin/mkdir "$d/calls/$i" 2>/dev/null; do i=$((i+1)); done
c="$d/calls/$i"
/usr/bin/env -0 > "$c/env"
for a in "$@"; do printf '%%s\0' "$a"; done > "$c/argv"
/usr/bin/cat > "$c/stdin"
/usr/bin/id -u > "$c/uid"
/usr/bin/id -G > "$c/groups"
/usr/bin/pwd > "$c/dir"
if [ -d "$d/jobs" ]; then
	id= prev=
	for a in "$@"; do [ "$prev" = job ] && id=$a; prev=$a; done
	if [ -n "$id" ] && [ -f "$d/jobs/$id" ]; then /usr/bin/cat "$d/jobs/$id"; exit 0; fi
	if [ -n "$id" ]; then echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; fi
fi
/usr/bin/cat "$d/stdout"
/usr/bin/cat "$d/stderr" >&2
exit "$(/usr/bin/cat "$d/code")"
`

// New writes a fake program called name answering resp, in a fresh directory removed when the
// test ends.
func New(t testing.TB, name string, resp Response) *Fake {
	t.Helper()
	dir, err := os.MkdirTemp("", "slurmtest-"+name+"-")
	if err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	calls := filepath.Join(dir, "calls")
	if err := os.Mkdir(calls, 0o777); err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	if err := os.Chmod(calls, 0o1777); err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	f := &Fake{Path: filepath.Join(dir, name), dir: dir}
	f.SetResponse(t, resp)
	if err := os.WriteFile(f.Path, []byte(fmt.Sprintf(script, dir)), 0o755); err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	return f
}

// SetResponse changes what the next calls print and return.
func (f *Fake) SetResponse(t testing.TB, resp Response) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, content := range map[string]string{
		"stdout": resp.Stdout, "stderr": resp.Stderr, "code": strconv.Itoa(resp.ExitCode),
	} {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
			t.Fatalf("slurmtest: %v", err)
		}
	}
}

// SetJobs makes the fake answer "... job <id> ..." calls (scontrol show job <id>) per job: with
// jobs[id] on the standard output, or, for an id it does not hold, with scontrol's "Invalid job
// id specified" and exit code 1, as slurmctld answers for a job it no longer holds. Other calls
// keep the Response.
func (f *Fake) SetJobs(t testing.TB, jobs map[int64]string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	dir := filepath.Join(f.dir, "jobs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	for id, out := range jobs {
		if err := os.WriteFile(filepath.Join(dir, strconv.FormatInt(id, 10)), []byte(out), 0o644); err != nil {
			t.Fatalf("slurmtest: %v", err)
		}
	}
}

// Calls returns the recorded invocations, oldest first.
func (f *Fake) Calls(t testing.TB) []Call {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	entries, err := os.ReadDir(filepath.Join(f.dir, "calls"))
	if err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	var idx []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			idx = append(idx, n)
		}
	}
	sort.Ints(idx)
	out := make([]Call, 0, len(idx))
	for _, n := range idx {
		c := filepath.Join(f.dir, "calls", strconv.Itoa(n))
		read := func(name string) string {
			b, err := os.ReadFile(filepath.Join(c, name))
			if err != nil {
				t.Fatalf("slurmtest: call %d: %v", n, err)
			}
			return string(b)
		}
		call := Call{
			Args:  splitNUL(read("argv")),
			Stdin: read("stdin"),
			Env:   splitNUL(read("env")),
			Dir:   strings.TrimSpace(read("dir")),
		}
		call.UID, _ = strconv.Atoi(strings.TrimSpace(read("uid")))
		for _, g := range strings.Fields(read("groups")) {
			v, _ := strconv.Atoi(g)
			call.Groups = append(call.Groups, v)
		}
		out = append(out, call)
	}
	return out
}

func splitNUL(s string) []string {
	s = strings.TrimSuffix(s, "\x00")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\x00")
}
