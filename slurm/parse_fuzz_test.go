package slurm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// addGolden adds every testdata file matching pattern to the seed corpus (captured Slurm 22.05
// output and the later-version shapes, see testdata/README.md).
func addGolden(f *testing.F, pattern string, add func(b []byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden file matches %s: %v", pattern, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// checkJob asserts what every parser promises about a job it returns.
func checkJob(t *testing.T, j JobData) {
	t.Helper()
	if j.JobState == "" {
		t.Fatalf("job %d returned with an empty state", j.JobID)
	}
	if !json.Valid([]byte(j.JobInfo)) {
		t.Fatalf("job %d: job_info is not valid JSON: %.200q", j.JobID, j.JobInfo)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(j.JobInfo), &obj); err != nil {
		t.Fatalf("job %d: job_info is not a JSON object: %v", j.JobID, err)
	}
}

// checkJobErr asserts that a batch error only joins *JobParseError values when jobs came back.
func checkJobErr(t *testing.T, jobs []JobData, err error) {
	t.Helper()
	if err == nil || len(jobs) == 0 {
		return
	}
	for _, e := range unjoin(err) {
		var pe *JobParseError
		if !errors.As(e, &pe) {
			t.Fatalf("jobs returned next to a document-level error: %v", e)
		}
	}
}

// FuzzParseJobsJSON reads squeue --json / scontrol show job --json documents of every supported
// version (22.05 to 24.11 goldens as seeds). Every kept job has a state and a job_info object,
// keep is honoured, and one bad job never hides the others.
func FuzzParseJobsJSON(f *testing.F) {
	addGolden(f, "squeue-*.json", func(b []byte) { f.Add(b, int64(0)) })
	for _, s := range []string{
		`{"jobs":[{"job_id":5,"job_state":"RUNNING","state_reason":"None","user_name":"alice","current_working_directory":"/home/alice","comment":"jobbergate-submission:1"}]}`,
		`{"jobs":[{"job_id":{"set":true,"infinite":false,"number":5},"job_state":["CANCELLED","COMPLETING"]},{"job_id":6,"job_state":[]}]}`,
		`{"jobs":[{"job_id":{"set":false,"number":5},"job_state":"PENDING"}]}`,
		`{"jobs":null}`, `{"jobs":[null, 1, "x"]}`, `{"meta":{}}`,
	} {
		f.Add([]byte(s), int64(5))
	}
	f.Fuzz(func(t *testing.T, data []byte, only int64) {
		keep := func(id int64) bool { return id == only }
		if only == 0 {
			keep = nil
		}
		jobs, err := ParseJobsJSON(data, keep)
		checkJobErr(t, jobs, err)
		for _, j := range jobs {
			checkJob(t, j)
			if keep != nil && j.JobID != only {
				t.Fatalf("job %d returned, only %d kept", j.JobID, only)
			}
			again, err := ParseJobObject([]byte(j.JobInfo))
			if err != nil {
				t.Fatalf("job_info of job %d does not parse again: %v", j.JobID, err)
			}
			if again != j {
				t.Fatalf("job_info does not parse back to the same job:\n%+v\n%+v", j, again)
			}
		}
	})
}

// FuzzParseScontrolLine reads one line of scontrol show job -o. A job it returns has the line's
// JobId and JobState, and job_info holds exactly the pairs ParseScontrolPairs found.
func FuzzParseScontrolLine(f *testing.F) {
	addGolden(f, "scontrol-*.txt", func(b []byte) {
		for _, l := range strings.Split(string(b), "\n") {
			f.Add(l)
		}
	})
	for _, s := range []string{
		"JobId=7 JobName=with spaces in name UserId=bob(1003) JobState=PENDING Reason=JobHeldUser Comment=jobbergate-submission:3 WorkDir=/tmp/a b",
		"JobId=8 JobState=RUNNING JobState=COMPLETED Reason=None",
		"JobId= JobState=RUNNING", "JobId=99999999999999999999 JobState=RUNNING", "=x JobId=1 JobState=X \xff\xfe=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		keys, values := ParseScontrolPairs(line)
		if len(keys) != len(values) {
			t.Fatalf("%d keys, %d values", len(keys), len(values))
		}
		for _, k := range keys {
			if _, ok := values[k]; !ok || !keyRe.MatchString(k+"=") {
				t.Fatalf("key %q is not a scontrol key", k)
			}
		}
		j, err := ParseScontrolLine(line)
		if err != nil {
			return
		}
		checkJob(t, j)
		// JobId is the line's first key (a later JobId= is text of a value); the state the last.
		first := scontrolPairs(line).first["JobId"]
		if id, err := strconv.ParseInt(first, 10, 64); err != nil || id != j.JobID || j.JobState != values["JobState"] {
			t.Fatalf("job %d %s from the first JobId=%q and JobState=%q", j.JobID, j.JobState, first, values["JobState"])
		}
		var info map[string]string
		if err := json.Unmarshal([]byte(j.JobInfo), &info); err != nil {
			t.Fatalf("job_info is not an object of strings: %v", err)
		}
		if len(info) != len(keys) {
			t.Fatalf("job_info has %d keys, the line %d", len(info), len(keys))
		}
		if strings.ContainsRune(j.UserName, '(') {
			t.Fatalf("user name %q keeps the uid", j.UserName)
		}
	})
}

// FuzzParseSacctParsable reads sacct -P output (slurmdbd and jobcomp goldens as seeds) with the
// agent's delimiter or sacct's default '|'. Returned ids are unique, states are one word, and
// job_info holds one string per header column.
func FuzzParseSacctParsable(f *testing.F) {
	addGolden(f, "sacct-*.txt", func(b []byte) { f.Add(string(b), false, int64(0)) })
	header := strings.Join(SacctFields, "|")
	for _, s := range []string{
		header + "\n5|5|job|alice|alice|acct|debug|CANCELLED by 1001|None|0:0|0:0|||||||1|1|vm|/tmp|has|pipe\n5.batch|5.batch|batch||||||||||||||||||||\n",
		"JobID|State\n1|COMPLETED\n1|FAILED\r\n2|\n3\n",
		"State\n1\n", "", "\n\n",
	} {
		f.Add(s, true, int64(0))
	}
	f.Add("JobIDRaw|State\n5|RUNNING\n6|PENDING\n", true, int64(6))
	f.Fuzz(func(t *testing.T, out string, pipe bool, only int64) {
		delim := SacctDelimiter
		if pipe {
			delim = "|"
		}
		keep := func(id int64) bool { return id == only }
		if only == 0 {
			keep = nil
		}
		jobs, err := ParseSacctParsable(out, delim, keep)
		checkJobErr(t, jobs, err)
		seen := map[int64]bool{}
		for _, j := range jobs {
			checkJob(t, j)
			if seen[j.JobID] {
				t.Fatalf("job %d returned twice", j.JobID)
			}
			seen[j.JobID] = true
			if keep != nil && j.JobID != only {
				t.Fatalf("job %d returned, only %d kept", j.JobID, only)
			}
			if strings.ContainsAny(j.JobState, " \t") {
				t.Fatalf("state %q is more than one word", j.JobState)
			}
			if strings.Contains(j.UserName, "(") {
				t.Fatalf("user name %q keeps the uid", j.UserName)
			}
		}
	})
}

// FuzzParseSacctJSON reads sacct --json documents (the 22.05 dbv0.0.38 golden and later shapes).
func FuzzParseSacctJSON(f *testing.F) {
	addGolden(f, "sacct-*.json", func(b []byte) { f.Add(b) })
	for _, s := range []string{
		`{"jobs":[{"job_id":{"set":true,"number":9},"state":{"current":["COMPLETED"],"reason":"None"},"user":"alice","working_directory":"/w","comment":{"job":"jobbergate-submission:9"}}]}`,
		`{"jobs":[{"job_id":9,"state":{"current":"FAILED"},"comment":"plain"},{"job_id":9,"state":{"current":"COMPLETED"}}]}`,
		`{"jobs":[{"job_id":1,"state":{"current":[]}},{"state":{}}]}`, `{"jobs":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := ParseSacctJSON(data, nil)
		checkJobErr(t, jobs, err)
		seen := map[int64]bool{}
		for _, j := range jobs {
			checkJob(t, j)
			if seen[j.JobID] {
				t.Fatalf("job %d returned twice", j.JobID)
			}
			seen[j.JobID] = true
		}
	})
}

// FuzzParseSbatchOutput reads sbatch --parsable output. An accepted answer has a positive id
// and a trimmed one-line cluster name, and printing it back the way Slurm does gives the same.
func FuzzParseSbatchOutput(f *testing.F) {
	for _, s := range []string{"1043\n", "1043;cluster-a\n", "1043,cluster-a", " 12 \r\n", "Submitted batch job 5\n",
		"0\n", "-1\n", "99999999999999999999\n", "5\n6\n", "5;\n", "sbatch: error: Batch job submission failed\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		res, err := ParseSbatchOutput(out)
		if err != nil {
			if !errors.Is(err, ErrUnparsableJobID) {
				t.Fatalf("error %v does not wrap ErrUnparsableJobID", err)
			}
			return
		}
		if res.JobID <= 0 {
			t.Fatalf("job id %d accepted", res.JobID)
		}
		if res.Cluster != strings.TrimSpace(res.Cluster) || strings.ContainsAny(res.Cluster, "\n") {
			t.Fatalf("cluster %q not trimmed to one line", res.Cluster)
		}
		printed := strconv.FormatInt(res.JobID, 10)
		if res.Cluster != "" {
			printed += ";" + res.Cluster
		}
		again, err := ParseSbatchOutput(printed + "\n")
		if err != nil || again != res {
			t.Fatalf("%q parses as %+v, printed back %q gives %+v, %v", out, res, printed, again, err)
		}
	})
}

// FuzzParseVersion reads sbatch/scontrol --version output. The numbers it returns are the ones
// written in Raw, which is part of the output, and String() reads back as the same release.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"slurm 22.05.8\n", "slurm-wlm 22.05.8\n", "slurm 23.11.4", "slurm 24.05.0-0rc1",
		"slurm 24.11", "no version", "slurm 99999999999999999999.05.1", "1.2.3.4.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		v, err := ParseVersion(out)
		if err != nil {
			return
		}
		if !strings.Contains(out, v.Raw) {
			t.Fatalf("Raw %q is not in the output", v.Raw)
		}
		parts := strings.Split(v.Raw, ".")
		nums := []int{v.Major, v.Minor, v.Patch}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n != nums[i] {
				t.Fatalf("%q read as %d.%d.%d", v.Raw, v.Major, v.Minor, v.Patch)
			}
		}
		again, err := ParseVersion(v.String())
		if err != nil || again.Major != v.Major || again.Minor != v.Minor || again.Patch != v.Patch {
			t.Fatalf("%s reads back as %+v, %v", v, again, err)
		}
	})
}

// TestParseScontrolPairsLongValue is the regression test of a value spanning many tokens (a
// user's --comment or job name full of spaces): each token used to copy the whole value so far,
// so a 320 kB line took 35 s. The pair parser now allocates a bounded number of times however
// many tokens a value has.
func TestParseScontrolPairsLongValue(t *testing.T) {
	const tokens = 20000
	line := "JobId=4 JobState=RUNNING Comment=" + strings.Repeat("a ", tokens) + "WorkDir=/tmp"
	_, values := ParseScontrolPairs(line)
	if want := strings.TrimSpace(strings.Repeat("a ", tokens)); values["Comment"] != want || values["WorkDir"] != "/tmp" {
		t.Fatalf("Comment has %d bytes, WorkDir %q", len(values["Comment"]), values["WorkDir"])
	}
	allocs := testing.AllocsPerRun(3, func() { ParseScontrolPairs(line) })
	if allocs > 200 {
		t.Fatalf("%.0f allocations for one line of %d tokens: the value is copied per token", allocs, tokens)
	}
}
