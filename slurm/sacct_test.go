package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/slurmtest"
)

func TestParseSacctParsableGolden(t *testing.T) {
	tests := []struct {
		file string
		want []wantJob
		// reason of every job: sacct -c has no Reason column data.
		reason string
	}{
		{"sacct-c-22.05.txt", []wantJob{
			{1, "COMPLETED", "", "alice", "/home/alice", ""},
			{1040, "COMPLETED", "", "alice", "/tmp/g-cap-Gkxh", ""},
			{1041, "FAILED", "", "alice", "/tmp/g-cap-Gkxh", ""},
			{1042, "CANCELLED", "", "alice", "/tmp/g-cap-Gkxh", ""},
		}, ""},
		{"sacct-P-22.05.txt", []wantJob{
			{1043, "COMPLETED", "None", "alice", "/tmp/g-cap-TzAH", "jobbergate-submission:42"},
			{1044, "FAILED", "None", "alice", "/tmp/g-cap-TzAH", ""},
			{1045, "CANCELLED", "None", "alice", "/tmp/g-cap-TzAH", "has|pipe"},
		}, "None"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			jobs, err := ParseSacctParsable(string(readTestdata(t, tt.file)), SacctDelimiter, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) != len(tt.want) {
				t.Fatalf("got %d jobs, want %d: %+v", len(jobs), len(tt.want), jobs)
			}
			for i, w := range tt.want {
				j := jobs[i]
				if j.JobID != w.id || j.JobState != w.state || j.StateReason != w.reason || j.UserName != w.user ||
					j.CurrentWorkingDirectory != w.cwd || j.Comment != w.mark {
					t.Errorf("job %d = %+v, want %+v", i, j, w)
				}
				// sacct -c prints the owner as alice(1001); slurmdbd's -P the name alone.
				if wantUID := map[bool]int64{true: 1001, false: -1}[strings.HasPrefix(tt.file, "sacct-c")]; j.UserID != wantUID || j.SubmitTime.IsZero() {
					t.Errorf("job %d: uid %d submitted %s, want uid %d and a submit time", j.JobID, j.UserID, j.SubmitTime, wantUID)
				}
				var info map[string]string
				if err := json.Unmarshal([]byte(j.JobInfo), &info); err != nil {
					t.Fatalf("job_info of %d is not a JSON object of strings: %v", j.JobID, err)
				}
				// The goldens were captured before UID joined SacctFields: as many columns as their header.
				header, _, _ := strings.Cut(string(readTestdata(t, tt.file)), "\n")
				if len(info) != len(strings.Split(header, SacctDelimiter)) || info["JobIDRaw"] != fmt.Sprint(w.id) {
					t.Errorf("job_info of %d = %s", j.JobID, j.JobInfo)
				}
				if !strings.HasPrefix(j.JobInfo, `{"JobIDRaw":`) {
					t.Errorf("job_info does not keep sacct's column order: %.60s", j.JobInfo)
				}
			}
		})
	}
	// The raw State of a job cancelled in slurmdbd is "CANCELLED by 0"; the name keeps its '|'.
	jobs, _ := ParseSacctParsable(string(readTestdata(t, "sacct-P-22.05.txt")), SacctDelimiter, func(id int64) bool { return id == 1045 })
	if len(jobs) != 1 || !strings.Contains(jobs[0].JobInfo, `"State":"CANCELLED by 0"`) || !strings.Contains(jobs[0].JobInfo, `"JobName":"odd|name"`) {
		t.Errorf("filtered 1045 = %+v", jobs)
	}
}

func TestParseSacctParsableEdges(t *testing.T) {
	const d = "|"
	tests := []struct {
		name    string
		out     string
		ids     []int64
		states  []string
		wantErr bool
		parseOf int64 // id named by a *JobParseError, 0 for none
	}{
		{name: "steps and het components skipped", out: "JobIDRaw|State\n5|COMPLETED\n5.batch|COMPLETED\n5.0|FAILED\n6+0|RUNNING\n", ids: []int64{5}, states: []string{"COMPLETED"}},
		{name: "requeued job: last line wins", out: "JobID|State\n7|REQUEUED\n7|COMPLETED\n", ids: []int64{7}, states: []string{"COMPLETED"}},
		{name: "comment with separators", out: "JobID|State|Comment\n8|RUNNING|a|b|c\n", ids: []int64{8}, states: []string{"RUNNING"}},
		{name: "short line", out: "JobID|State|User\n9|RUNNING\n10|PENDING|bob\n", ids: []int64{10}, states: []string{"PENDING"}, wantErr: true, parseOf: 9},
		{name: "empty state", out: "JobID|State\n11|\n", wantErr: true, parseOf: 11},
		{name: "header only", out: "JobID|State\n"},
		{name: "no State column", out: "JobID|User\n1|bob\n", wantErr: true},
		{name: "empty output", out: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := ParseSacctParsable(tt.out, d, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var pe *JobParseError
			if tt.parseOf != 0 && (!errors.As(err, &pe) || pe.JobID != tt.parseOf) {
				t.Errorf("err = %v, want a JobParseError for %d", err, tt.parseOf)
			}
			var ids []int64
			var states []string
			for _, j := range jobs {
				ids, states = append(ids, j.JobID), append(states, j.JobState)
			}
			if !slices.Equal(ids, tt.ids) || !slices.Equal(states, tt.states) {
				t.Errorf("got ids %v states %v, want %v %v", ids, states, tt.ids, tt.states)
			}
		})
	}
	jobs, _ := ParseSacctParsable("JobID|State|Comment\n8|RUNNING|a|b|c\n", d, nil)
	if len(jobs) != 1 || jobs[0].Comment != "a|b|c" {
		t.Errorf("comment = %+v", jobs)
	}
}

func TestParseSacctJSONGolden(t *testing.T) {
	jobs, err := ParseSacctJSON(readTestdata(t, "sacct-22.05.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []wantJob{
		{1043, "COMPLETED", "None", "alice", "/tmp/g-cap-TzAH", "jobbergate-submission:42"},
		{1044, "FAILED", "None", "alice", "/tmp/g-cap-TzAH", ""},
		{1045, "CANCELLED", "None", "alice", "/tmp/g-cap-TzAH", "has|pipe"},
	}
	if len(jobs) != len(want) {
		t.Fatalf("got %d jobs", len(jobs))
	}
	for i, w := range want {
		j := jobs[i]
		if j.JobID != w.id || j.JobState != w.state || j.StateReason != w.reason || j.UserName != w.user ||
			j.CurrentWorkingDirectory != w.cwd || j.Comment != w.mark {
			t.Errorf("job %d = %+v, want %+v", i, j, w)
		}
		var info map[string]any
		if err := json.Unmarshal([]byte(j.JobInfo), &info); err != nil || info["account"] != "research" {
			t.Errorf("job_info of %d is not sacct's object: %v %.100s", j.JobID, err, j.JobInfo)
		}
	}
}

func TestParseSacctJSONShapes(t *testing.T) {
	tests := []struct {
		name, doc string
		state     string
		mark      string
		wantErr   error
	}{
		{"22.05 string state, comment object", `{"jobs":[{"job_id":5,"state":{"current":"TIMEOUT","reason":"None"},"comment":{"job":"m"}}]}`, "TIMEOUT", "m", nil},
		{"23.11 list state, number object id", `{"jobs":[{"job_id":{"set":true,"infinite":false,"number":5},"state":{"current":["COMPLETED"],"reason":"None"},"comment":{"job":"m"}}]}`, "COMPLETED", "m", nil},
		{"plain string comment", `{"jobs":[{"job_id":5,"state":{"current":"FAILED"},"comment":"m"}]}`, "FAILED", "m", nil},
		{"empty state list", `{"jobs":[{"job_id":5,"state":{"current":[]}}]}`, "", "", ErrInvalidJobState},
		{"no jobs key", `{"meta":{}}`, "", "", ErrNoJobsKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := ParseSacctJSON([]byte(tt.doc), nil)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(jobs) != 1 || jobs[0].JobID != 5 || jobs[0].JobState != tt.state || jobs[0].Comment != tt.mark {
				t.Errorf("jobs = %+v, err %v", jobs, err)
			}
		})
	}
}

// sacctScript writes a fake sacct that answers by its arguments, the way the real one does in
// each accounting setup, and logs each call's arguments (one line per call) to the returned file.
func sacctScript(t *testing.T, jsonOut, dbdOut, jobcompOut string) (path, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	n := 0
	answer := func(out string) string {
		if out == "" {
			return "exit 0"
		}
		if strings.HasPrefix(out, "!") { // "!code:message": fail with it on stderr
			code, msg, _ := strings.Cut(out[1:], ":")
			return fmt.Sprintf("printf '%%s\\n' %q >&2; exit %s", msg, code)
		}
		n++
		f := filepath.Join(dir, fmt.Sprintf("out%d", n))
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("cat %q", f)
	}
	script := fmt.Sprintf(`#!/bin/sh
echo "$*" >> %q
case " $* " in
*" --json "*) %s ;;
*" -c "*) %s ;;
*) %s ;;
esac
`, calls, answer(jsonOut), answer(jobcompOut), answer(dbdOut))
	path = filepath.Join(dir, "sacct")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, calls
}

func sacctCalls(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

const (
	disabled      = "!1:Slurm accounting storage is disabled"
	jobcompOff    = "!1:Slurm job completion is disabled"
	dbdDown       = "!1:sacct: error: Problem talking to the database: Connection refused"
	noJSONPlugin  = "!1:sacct: fatal: slurm_openapi_p_init: no plugin"
	emptySqueue   = `{"meta":{},"errors":[],"jobs":[]}`
	noCommentConf = "AccountingStorageType   = accounting_storage/slurmdbd\nAccountingStoreFlags    = (null)\n"
	commentConf   = "AccountingStorageType   = accounting_storage/slurmdbd\nAccountingStoreFlags    = job_comment\n"
)

func sacctClient(t *testing.T, sacct string, squeue, scontrol *slurmtest.Fake, mode AccountingMode) *Client {
	t.Helper()
	path := func(f *slurmtest.Fake) string {
		if f == nil {
			return "/nonexistent/slurm-program"
		}
		return f.Path
	}
	c, err := New(Options{SqueuePath: path(squeue), ScontrolPath: path(scontrol), SacctPath: sacct, Accounting: mode, SlurmVersion: "24.11"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAccountingProbe(t *testing.T) {
	jsonDoc := string(readTestdata(t, "sacct-22.05.json"))
	pDoc := string(readTestdata(t, "sacct-P-22.05.txt"))
	cDoc := string(readTestdata(t, "sacct-c-22.05.txt"))
	tests := []struct {
		name                string
		json, dbd, jobcomp  string
		want                AccountingMode
		wantErr             bool
		calls               int
		comments            bool
		scontrolShowsConfig string
	}{
		{name: "slurmdbd with JSON", json: jsonDoc, dbd: pDoc, jobcomp: cDoc, want: AccountingJSON, calls: 1, comments: true, scontrolShowsConfig: commentConf},
		{name: "slurmdbd without job_comment", json: jsonDoc, want: AccountingJSON, calls: 1, scontrolShowsConfig: noCommentConf},
		{name: "slurmdbd without JSON plugin", json: noJSONPlugin, dbd: pDoc, want: AccountingParsable, calls: 2, comments: true, scontrolShowsConfig: commentConf},
		{name: "jobcomp file only", json: disabled, dbd: disabled, jobcomp: cDoc, want: AccountingJobComp, calls: 2},
		{name: "jobcomp file not written yet", json: disabled, dbd: disabled, jobcomp: "", want: AccountingJobComp, calls: 2},
		{name: "no accounting at all", json: disabled, dbd: disabled, jobcomp: jobcompOff, want: AccountingNone, calls: 2},
		{name: "slurmdbd down", json: dbdDown, dbd: dbdDown, jobcomp: dbdDown, wantErr: true, calls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sacct, calls := sacctScript(t, tt.json, tt.dbd, tt.jobcomp)
			scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: tt.scontrolShowsConfig})
			c := sacctClient(t, sacct, nil, scontrol, AccountingAuto)
			for round := 0; round < 2; round++ {
				mode, comments, err := c.accounting(context.Background())
				if tt.wantErr {
					if !errors.Is(err, ErrAccountingUnavailable) || !strings.Contains(err.Error(), "Connection refused") {
						t.Fatalf("err = %v, want ErrAccountingUnavailable with sacct's message", err)
					}
					continue
				}
				if err != nil || mode != tt.want || comments != tt.comments {
					t.Fatalf("round %d: mode %v comments %v err %v, want %v %v", round, mode, comments, err, tt.want, tt.comments)
				}
			}
			want := tt.calls // the answer is cached: the second round runs nothing
			if tt.wantErr {
				want = 2 * tt.calls // a failed probe is not cached
			}
			if got := sacctCalls(t, calls); len(got) != want {
				t.Errorf("sacct ran %d times, want %d: %q", len(got), want, got)
			}
		})
	}

	t.Run("sacct missing", func(t *testing.T) {
		c := sacctClient(t, "/nonexistent/sacct", nil, nil, AccountingAuto)
		if mode, err := c.AccountingMode(context.Background()); err != nil || mode != AccountingNone {
			t.Errorf("mode %v err %v, want none", mode, err)
		}
	})
}

func TestJobStatesLooksUpAccounting(t *testing.T) {
	scontrol := scontrolJobsJSON(t, string(readTestdata(t, "squeue-22.05.json")))
	tests := []struct {
		name          string
		json, jobcomp string
		lookupArgs    string // the lookup call's arguments (after the probe)
		found         map[int64]string
	}{
		{"slurmdbd JSON", string(readTestdata(t, "sacct-22.05.json")), "",
			"--json -X -j 1043,1045,77", map[int64]string{1043: "COMPLETED", 1045: "CANCELLED"}},
		{"jobcomp file", disabled, string(readTestdata(t, "sacct-c-22.05.txt")),
			"-c -P --delimiter=\x1f -o " + strings.Join(SacctFields, ",") + " -j 1043,1045,77", map[int64]string{}},
		{"jobcomp file knows 1041", disabled, string(readTestdata(t, "sacct-c-22.05.txt")),
			"-c -P --delimiter=\x1f -o " + strings.Join(SacctFields, ",") + " -j 1041,1045,77", map[int64]string{1041: "FAILED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sacct, calls := sacctScript(t, tt.json, disabled, tt.jobcomp)
			c := sacctClient(t, sacct, nil, scontrol, AccountingAuto)
			ids := []int64{4, 1043, 1045, 77, 4}
			if strings.Contains(tt.name, "1041") {
				ids = []int64{4, 1041, 1045, 77}
			}
			got, err := c.JobStates(context.Background(), ids)
			if err != nil {
				t.Fatal(err)
			}
			if got[4].JobState != "RUNNING" {
				t.Errorf("job 4 (held by slurmctld) = %+v", got[4])
			}
			for _, id := range ids {
				if id == 4 {
					continue
				}
				if state, ok := tt.found[id]; ok {
					if got[id].JobState != state || got[id].UserName != "alice" || !strings.HasPrefix(got[id].CurrentWorkingDirectory, "/tmp/g-cap-") {
						t.Errorf("job %d = %+v, want %s from accounting", id, got[id], state)
					}
				} else if got[id] != UnknownJob(id) {
					t.Errorf("job %d = %+v, want UnknownJob", id, got[id])
				}
			}
			lines := sacctCalls(t, calls)
			if len(lines) == 0 || lines[len(lines)-1] != tt.lookupArgs {
				t.Fatalf("sacct calls %q, last want %q", lines, tt.lookupArgs)
			}
			before := len(lines)
			if _, err := c.JobStates(context.Background(), []int64{77}); err != nil {
				t.Fatal(err)
			}
			if n := len(sacctCalls(t, calls)); n != before+1 {
				t.Errorf("second batch ran sacct %d times, want 1 (probe cached)", n-before)
			}
		})
	}
}

func TestJobStatesAccountingDown(t *testing.T) {
	scontrol := scontrolJobsJSON(t, string(readTestdata(t, "squeue-22.05.json")))
	sacct, _ := sacctScript(t, dbdDown, dbdDown, dbdDown)
	c := sacctClient(t, sacct, nil, scontrol, AccountingJSON)
	got, err := c.JobStates(context.Background(), []int64{4, 1043})
	if !errors.Is(err, ErrAccountingUnavailable) {
		t.Fatalf("err = %v, want ErrAccountingUnavailable", err)
	}
	var ae *AccountingError
	if !errors.As(err, &ae) || !slices.Equal(ae.IDs, []int64{1043}) {
		t.Errorf("err = %#v, want an AccountingError for [1043]", err)
	}
	if _, ok := got[1043]; ok {
		t.Errorf("1043 reported %+v although accounting could not be asked", got[1043])
	}
	if got[4].JobState != "RUNNING" {
		t.Errorf("job 4 = %+v, want it read despite the sacct failure", got[4])
	}
}

func TestJobStateSingleFromAccounting(t *testing.T) {
	scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stderr: "slurm_load_jobs error: Invalid job id specified\n", ExitCode: 1})
	sacct, _ := sacctScript(t, disabled, disabled, string(readTestdata(t, "sacct-c-22.05.txt")))
	c := sacctClient(t, sacct, nil, scontrol, AccountingAuto)
	j, err := c.JobState(context.Background(), 1041)
	if err != nil || j.JobState != "FAILED" || j.UserName != "alice" || !strings.Contains(j.JobInfo, `"ExitCode":"3:0"`) {
		t.Errorf("JobState(1041) = %+v, %v", j, err)
	}
	j, err = c.JobState(context.Background(), 31)
	if err != nil || j != UnknownJob(31) {
		t.Errorf("JobState(31) = %+v, %v", j, err)
	}

	// A queue without these jobs (Slurm 22.05's scontrol form): sacct is asked once for all.
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{})
	none := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: "No jobs in the system\n"})
	sacct2, calls := sacctScript(t, disabled, disabled, string(readTestdata(t, "sacct-c-22.05.txt")))
	c = sacctClient(t, sacct2, squeue, none, AccountingJobComp)
	c.opts.SlurmVersion = "22.05"
	got, err := c.JobStates(context.Background(), []int64{1040, 1042, 31})
	if err != nil || got[1040].JobState != "COMPLETED" || got[1042].JobState != "CANCELLED" || got[31] != UnknownJob(31) {
		t.Errorf("JobStates = %+v, %v", got, err)
	}
	if n := len(sacctCalls(t, calls)); n != 1 {
		t.Errorf("sacct ran %d times, want 1", n)
	}
}

// TestFindMarkedJobsInAccounting: a claim older than MinJobAge whose job slurmctld no longer
// holds is searched in accounting, which must record comments; otherwise the answer is
// ErrNotSure, never "no job".
func TestFindMarkedJobsInAccounting(t *testing.T) {
	squeue := slurmtest.New(t, "squeue", slurmtest.Response{Stdout: "77|unrelated\n"})
	since := time.Date(2026, 11, 25, 13, 0, 0, 0, time.Local)
	alice := User{Name: "alice", UID: 1001}
	legacy := Identity{Owner: alice, Since: since} // the job of sacct-22.05.json carries the legacy marker
	const minJobAge = "MinJobAge               = 300 sec\n"
	t.Run("slurmdbd with comments", func(t *testing.T) {
		scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: commentConf + minJobAge})
		sacct, calls := sacctScript(t, string(readTestdata(t, "sacct-22.05.json")), "", "")
		c := sacctClient(t, sacct, squeue, scontrol, AccountingAuto)
		found, err := c.FindMarkedJobs(context.Background(), 42, legacy)
		if err != nil || len(found.Jobs) != 1 || found.Jobs[0].JobID != 1043 || found.Jobs[0].JobState != "COMPLETED" {
			t.Fatalf("found %+v, %v", found, err)
		}
		lines := sacctCalls(t, calls)
		if last := lines[len(lines)-1]; last != "--json -X -S 2026-11-25T12:58:00 -E now -u 1001" {
			t.Errorf("search call = %q", last)
		}
		found, err = c.FindMarkedJobs(context.Background(), 43, legacy)
		if err != nil || len(found.Jobs) != 0 {
			t.Errorf("submission 43: %+v, %v", found, err)
		}
		bob := Identity{Owner: User{Name: "bob", UID: 1002}, Since: since}
		if found, err = c.FindMarkedJobs(context.Background(), 42, bob); err != nil || len(found.Jobs) != 0 {
			t.Errorf("bob's claim adopted alice's job: %+v, %v", found, err)
		}
		later := Identity{Owner: alice, Since: since.Add(24 * time.Hour)}
		if found, err = c.FindMarkedJobs(context.Background(), 42, later); err != nil || len(found.Jobs) != 0 {
			t.Errorf("a later claim adopted an earlier job: %+v, %v", found, err)
		}
	})
	for _, tt := range []struct {
		name, json, jobcomp, conf string
	}{
		{"jobcomp file", disabled, string(readTestdata(t, "sacct-c-22.05.txt")), minJobAge},
		{"slurmdbd without job_comment", string(readTestdata(t, "sacct-22.05.json")), "", noCommentConf + minJobAge},
		{"no accounting", disabled, jobcompOff, minJobAge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: tt.conf})
			sacct, _ := sacctScript(t, tt.json, disabled, tt.jobcomp)
			c := sacctClient(t, sacct, squeue, scontrol, AccountingAuto)
			if _, err := c.FindMarkedJobs(context.Background(), 42, legacy); !errors.Is(err, ErrCommentsNotRecorded) || !errors.Is(err, ErrNotSure) {
				t.Errorf("err = %v, want ErrNotSure and ErrCommentsNotRecorded", err)
			}
		})
	}
	t.Run("claim younger than MinJobAge: no sacct", func(t *testing.T) {
		scontrol := slurmtest.New(t, "scontrol", slurmtest.Response{Stdout: minJobAge})
		sacct, calls := sacctScript(t, dbdDown, dbdDown, dbdDown)
		c := sacctClient(t, sacct, squeue, scontrol, AccountingAuto)
		found, err := c.FindMarkedJobs(context.Background(), 42, Identity{Owner: alice, Since: time.Now()})
		if err != nil || len(found.Jobs) != 0 {
			t.Errorf("found %+v, %v", found, err)
		}
		if n := len(sacctCalls(t, calls)); n != 0 {
			t.Errorf("sacct ran %d times", n)
		}
	})
}

func TestAccountingModeOption(t *testing.T) {
	if _, err := New(Options{Accounting: AccountingNone + 1}); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := New(Options{SacctPath: "sacct"}); err == nil {
		t.Error("relative sacct path accepted")
	}
	for m, s := range map[AccountingMode]string{AccountingAuto: "auto", AccountingJSON: "sacct-json", AccountingParsable: "sacct-parsable", AccountingJobComp: "sacct-jobcomp", AccountingNone: "none"} {
		if m.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(m), m.String(), s)
		}
	}
}

func TestAccountingProbeRunsOnceUnderConcurrency(t *testing.T) {
	sacct, calls := sacctScript(t, string(readTestdata(t, "sacct-22.05.json")), "", "")
	c := sacctClient(t, sacct, nil, nil, AccountingAuto)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			mode, err := c.AccountingMode(context.Background())
			if err == nil && mode != AccountingJSON {
				err = fmt.Errorf("mode %v", mode)
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := sacctCalls(t, calls); len(got) != 1 {
		t.Errorf("8 concurrent callers ran sacct %d times, want one probe: %q", len(got), got)
	}
}
