package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/inspect"
)

// deadSeqs lists the dead letters through the command and returns their sequences by submission.
func deadSeqs(t *testing.T, a *agentBroker) map[string]uint64 {
	t.Helper()
	code, stdout, stderr := run(t, a.env, "dead", "list", "--json")
	if code != 0 {
		t.Fatalf("dead list --json: exit %d: %s", code, stderr)
	}
	var letters []inspect.DeadLetter
	if err := json.Unmarshal([]byte(stdout), &letters); err != nil {
		t.Fatalf("dead list --json: %v\n%s", err, stdout)
	}
	out := map[string]uint64{}
	for _, d := range letters {
		out[d.SubmissionID] = d.Seq
	}
	return out
}

func TestDeadListAndShow(t *testing.T) {
	a := startAgentBroker(t)
	a.deadLetterSubmissions(t, "11", "12", "13")
	seqs := deadSeqs(t, a)
	if len(seqs) != 3 {
		t.Fatalf("dead list --json: %v", seqs)
	}

	code, stdout, stderr := run(t, a.env, "dead", "list")
	if code != 0 {
		t.Fatalf("dead list: exit %d: %s", code, stderr)
	}
	for id, seq := range seqs {
		f := fieldsOf(stdout, strconv.FormatUint(seq, 10)+" ")
		// SEQ DEAD-AT STREAM SUBJECT SUBMISSION DELIVERIES REASON...
		if len(f) < 8 || f[2] != a.topo.Submit.Stream || f[3] != a.topo.Submit.Subject(id) || f[4] != id || f[5] != "1" || f[6]+" "+f[7] != "bad script" {
			t.Errorf("list line for %s: %q\n%s", id, f, stdout)
		}
	}

	// --limit keeps the newest.
	code, stdout, _ = run(t, a.env, "dead", "--limit", "1", "list", "--json")
	var last []inspect.DeadLetter
	if err := json.Unmarshal([]byte(stdout), &last); code != 0 || err != nil || len(last) != 1 || last[0].SubmissionID != "13" {
		t.Errorf("dead list --limit 1: exit %d, %v, %+v", code, err, last)
	}

	code, stdout, stderr = run(t, a.env, "dead", "show", strconv.FormatUint(seqs["12"], 10))
	if code != 0 {
		t.Fatalf("dead show: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Reason:      bad script", "Subject:     " + a.topo.Submit.Subject("12"),
		"Submission:  12", "Jbg-Dead-Consumer: submit", "Payload:\n#!/bin/sh\necho 12\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dead show lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = run(t, a.env, "dead", "show", strconv.FormatUint(seqs["12"], 10), "--json")
	var d inspect.DeadLetter
	if err := json.Unmarshal([]byte(stdout), &d); code != 0 || err != nil || string(d.Data) != "#!/bin/sh\necho 12" {
		t.Errorf("dead show --json: exit %d, %v, %+v", code, err, d)
	}

	code, _, stderr = run(t, a.env, "dead", "show", "9999")
	if code != 1 || !strings.Contains(stderr, "no dead letter with this sequence: 9999") {
		t.Errorf("dead show 9999: exit %d, %s", code, stderr)
	}
}

func TestDeadRetry(t *testing.T) {
	a := startAgentBroker(t)
	a.deadLetterSubmissions(t, "21", "22", "23")
	seqs := deadSeqs(t, a)

	code, stdout, stderr := run(t, a.env, "dead", "retry", strconv.FormatUint(seqs["21"], 10))
	if code != 0 {
		t.Fatalf("dead retry: exit %d: %s", code, stderr)
	}
	want := "dead letter " + strconv.FormatUint(seqs["21"], 10) + " (" + a.topo.Submit.Subject("21") + "): requeued on " + a.topo.Submit.Stream + " as seq "
	if !strings.HasPrefix(stdout, want) {
		t.Errorf("dead retry output %q, want prefix %q", stdout, want)
	}
	if n := a.msgs(t, a.topo.Submit.Stream); n != 1 {
		t.Errorf("SUBMIT holds %d after retry, want 1", n)
	}
	if n := a.msgs(t, a.topo.Dead); n != 2 {
		t.Errorf("DEAD holds %d after retry, want 2", n)
	}
	code, _, stderr = run(t, a.env, "dead", "retry", strconv.FormatUint(seqs["21"], 10))
	if code != 1 || !strings.Contains(stderr, "no dead letter with this sequence") {
		t.Errorf("second retry: exit %d, %s", code, stderr)
	}

	code, stdout, stderr = run(t, a.env, "dead", "retry", "all", "--json")
	if code != 0 {
		t.Fatalf("dead retry all: exit %d: %s", code, stderr)
	}
	var rs []inspect.Retried
	if err := json.Unmarshal([]byte(stdout), &rs); err != nil || len(rs) != 2 {
		t.Fatalf("dead retry all --json: %v, %s", err, stdout)
	}
	for _, r := range rs {
		if r.Outcome != inspect.Requeued || r.Stream != a.topo.Submit.Stream || r.Seq == 0 {
			t.Errorf("retried %+v", r)
		}
	}
	if n := a.msgs(t, a.topo.Submit.Stream); n != 3 {
		t.Errorf("SUBMIT holds %d after retry all, want 3", n)
	}
	code, stdout, _ = run(t, a.env, "dead", "retry", "all")
	if code != 0 || stdout != "no dead letter retried\n" {
		t.Errorf("retry all on empty DEAD: exit %d, %q", code, stdout)
	}
}

func TestDeadPurge(t *testing.T) {
	a := startAgentBroker(t)
	a.deadLetterSubmissions(t, "31", "32", "33")
	seqs := deadSeqs(t, a)

	code, stdout, stderr := run(t, a.env, "dead", "purge", strconv.FormatUint(seqs["31"], 10))
	if code != 0 {
		t.Fatalf("dead purge: exit %d: %s", code, stderr)
	}
	want := "purged dead letter " + strconv.FormatUint(seqs["31"], 10) + " (" + a.topo.Submit.Subject("31") + ", submission 31): bad script\n1 dead letter(s) purged\n"
	if stdout != want {
		t.Errorf("dead purge output %q, want %q", stdout, want)
	}
	if n := a.msgs(t, a.topo.Submit.Stream); n != 0 {
		t.Errorf("purge requeued something: SUBMIT holds %d", n)
	}

	code, stdout, stderr = run(t, a.env, "dead", "purge", "all")
	if code != 0 {
		t.Fatalf("dead purge all: exit %d: %s", code, stderr)
	}
	for _, id := range []string{"32", "33"} {
		if !strings.Contains(stdout, "purged dead letter "+strconv.FormatUint(seqs[id], 10)+" ") {
			t.Errorf("purge all output lacks submission %s:\n%s", id, stdout)
		}
	}
	if !strings.HasSuffix(stdout, "2 dead letter(s) purged\n") {
		t.Errorf("purge all output %q", stdout)
	}
	if n := a.msgs(t, a.topo.Dead); n != 0 {
		t.Errorf("DEAD holds %d after purge all", n)
	}
	code, stdout, _ = run(t, a.env, "dead", "purge", "all", "--json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("purge all on empty DEAD: exit %d, %q", code, stdout)
	}
}

func TestDeadUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"dead"}, "missing command"},
		{[]string{"dead", "frob"}, `unknown command "frob"`},
		{[]string{"dead", "show"}, "show needs one argument"},
		{[]string{"dead", "show", "all"}, `"all" is not a dead-letter sequence number`},
		{[]string{"dead", "retry", "x1"}, `"x1" is not a dead-letter sequence number`},
		{[]string{"dead", "purge", "1", "2"}, "purge needs one argument"},
		{[]string{"dead", "list", "extra"}, "list takes no argument"},
	}
	for _, tc := range tests {
		code, _, stderr := realMainArgs(tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Usage: jobbergate-agent dead") {
			t.Errorf("%v: exit %d, stderr %s", tc.args, code, stderr)
		}
	}
}

// realMainArgs runs the command with no settings at all (usage errors come before loading them).
func realMainArgs(args ...string) (int, string, string) {
	var out, errOut strings.Builder
	code := Run(context.Background(), append([]string{"--env-file", "none"}, args...), nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestDeadLetterTextCannotDriveTheTerminal: a dead letter whose reason (an API body or sbatch's
// stderr, which a user controls) and payload (her job script) hold terminal escape sequences
// prints no ESC, CR or other control byte through dead show, dead list, status or dead purge;
// what the escapes replace stays readable.
func TestDeadLetterTextCannotDriveTheTerminal(t *testing.T) {
	a := startAgentBroker(t)
	const attack = "\x1b]0;pwned\x07\x1b[2J"
	a.publish(t, a.topo.Submit.Subject("66"), "66", "#!/bin/sh\necho 'hi\x1b[31m'\r\n\tdone\u009b")
	a.deadLetterQueued(t, "sbatch: error: "+attack+"\nsecond line\x1b[1A\x7f\xc2\x9b\u202eend")
	seq := deadSeqs(t, a)["66"]

	controls := func(out string) []string {
		var found []string
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
				found = append(found, fmt.Sprintf("%q at %d", c, i))
			}
		}
		for _, r := range out {
			if r >= 0x80 && r <= 0x9f || r == 0x202e {
				found = append(found, fmt.Sprintf("%U", r))
			}
		}
		return found
	}
	for _, args := range [][]string{{"dead", "show", strconv.FormatUint(seq, 10)}, {"dead", "list"}, {"status"}, {"dead", "purge", strconv.FormatUint(seq, 10)}} {
		code, stdout, stderr := run(t, a.env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		if c := controls(stdout); len(c) > 0 {
			t.Errorf("%v prints control characters %v:\n%q", args, c, stdout)
		}
		if !strings.Contains(stdout, `sbatch: error: \x1b]0;pwned\x07\x1b[2J`) {
			t.Errorf("%v does not show the reason escaped:\n%s", args, stdout)
		}
		if args[0] == "dead" && args[1] == "show" {
			// NATS headers carry no newline: the one in the reason arrives as a space.
			for _, want := range []string{
				"Reason:      sbatch: error: \\x1b]0;pwned\\x07\\x1b[2J second line\\x1b[1A\\x7f\\u009b\\u202eend\nFrom:",
				"Payload:\n#!/bin/sh\necho 'hi\\x1b[31m'\\r\n\tdone\\u009b\n",
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("dead show lacks %q:\n%s", want, stdout)
				}
			}
		}
	}
}
