package jobbergate

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestMeasurementsAreSorted(t *testing.T) {
	if !slices.IsSorted(Measurements[:]) {
		t.Fatalf("Measurements not in ASCII order: %v", Measurements)
	}
	for i, name := range Measurements {
		if got, ok := MeasurementIndex(name); !ok || got != i {
			t.Errorf("MeasurementIndex(%q) = %d, %v; want %d, true", name, got, ok, i)
		}
	}
	if _, ok := MeasurementIndex("Unknown"); ok {
		t.Error("MeasurementIndex(Unknown) found")
	}
}

func TestPendingSubmissionDecode(t *testing.T) {
	const script = `"job_script": {"id": 9, "name": "js", "files": [
		{"parent_id": 9, "filename": "run.sh", "file_type": "ENTRYPOINT", "created_at": "x"},
		{"parent_id": 9, "filename": "data.txt", "file_type": "SUPPORT"}]}`
	dir := "/home/alice/run"
	tests := []struct {
		name    string
		in      string
		want    PendingSubmission
		wantErr string
	}{
		{
			name: "full with unknown fields",
			in: `{"id": 1, "name": "n", "owner_email": "a@b.c", "execution_directory": "/home/alice/run",
				"execution_parameters": {}, "sbatch_arguments": ["--mem=1G"], ` + script + `}`,
			want: PendingSubmission{ID: 1, Name: "n", OwnerEmail: "a@b.c", ExecutionDirectory: &dir,
				SbatchArguments: []string{"--mem=1G"}, JobScript: JobScript{Files: []JobScriptFile{
					{ParentID: 9, Filename: "run.sh", FileType: FileTypeEntrypoint},
					{ParentID: 9, Filename: "data.txt", FileType: FileTypeSupport}}}},
		},
		{
			name: "optional fields absent",
			in:   `{"id": 2, "name": "n", "owner_email": "a@b.c", "job_script": {}}`,
			want: PendingSubmission{ID: 2, Name: "n", OwnerEmail: "a@b.c", SbatchArguments: []string{},
				JobScript: JobScript{Files: []JobScriptFile{}}},
		},
		{
			name: "execution_directory null",
			in:   `{"id": 3, "name": "n", "owner_email": "a@b.c", "execution_directory": null, "job_script": {"files": []}}`,
			want: PendingSubmission{ID: 3, Name: "n", OwnerEmail: "a@b.c", SbatchArguments: []string{},
				JobScript: JobScript{Files: []JobScriptFile{}}},
		},
		{name: "sbatch_arguments null", in: `{"id": 1, "name": "n", "owner_email": "e", "sbatch_arguments": null, "job_script": {}}`, wantErr: "sbatch_arguments"},
		{name: "job_script missing", in: `{"id": 1, "name": "n", "owner_email": "e"}`, wantErr: "job_script"},
		{name: "job_script null", in: `{"id": 1, "name": "n", "owner_email": "e", "job_script": null}`, wantErr: "job_script"},
		{name: "files null", in: `{"id": 1, "name": "n", "owner_email": "e", "job_script": {"files": null}}`, wantErr: "files"},
		{name: "bad file type", in: `{"id": 1, "name": "n", "owner_email": "e", "job_script": {"files": [{"parent_id": 1, "filename": "f", "file_type": "OTHER"}]}}`, wantErr: "file_type"},
		{name: "file without filename", in: `{"id": 1, "name": "n", "owner_email": "e", "job_script": {"files": [{"parent_id": 1, "file_type": "SUPPORT"}]}}`, wantErr: "filename"},
		{name: "id missing", in: `{"name": "n", "owner_email": "e", "job_script": {}}`, wantErr: "id"},
		{name: "owner_email missing", in: `{"id": 1, "name": "n", "job_script": {}}`, wantErr: "owner_email"},
		{name: "id wrong type", in: `{"id": "x", "name": "n", "owner_email": "e", "job_script": {}}`, wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got PendingSubmission
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPageDecode(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantItems int
		wantLast  bool
		wantValid bool // validation error expected (as opposed to none)
	}{
		{name: "ok", in: `{"items": [{"id": 1, "status": "SUBMITTED", "slurm_job_id": 7}], "total": 1, "page": 1, "size": 100, "pages": 1}`, wantItems: 1, wantLast: true},
		{name: "empty pages 0", in: `{"items": [], "total": 0, "page": 1, "size": 100, "pages": 0}`, wantLast: true},
		{name: "more pages", in: `{"items": [{"id": 1}], "total": 2, "page": 1, "size": 1, "pages": 2}`, wantItems: 1},
		{name: "items missing", in: `{"total": 0, "page": 1, "size": 100, "pages": 0}`, wantValid: true},
		{name: "items null", in: `{"items": null, "total": 0, "page": 1, "size": 100, "pages": 0}`, wantValid: true},
		{name: "total missing", in: `{"items": [], "page": 1, "size": 100, "pages": 0}`, wantValid: true},
		{name: "page missing", in: `{"items": [], "total": 0, "size": 100, "pages": 0}`, wantValid: true},
		{name: "size missing", in: `{"items": [], "total": 0, "page": 1, "pages": 0}`, wantValid: true},
		{name: "pages missing", in: `{"items": [], "total": 0, "page": 1, "size": 100}`, wantValid: true},
		{name: "item without id", in: `{"items": [{"status": "SUBMITTED"}], "total": 1, "page": 1, "size": 100, "pages": 1}`, wantValid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Page[ActiveSubmission]
			err := json.Unmarshal([]byte(tt.in), &p)
			if tt.wantValid {
				if !errors.Is(err, ErrValidation) {
					t.Fatalf("err = %v, want ErrValidation", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Items) != tt.wantItems || p.Last() != tt.wantLast {
				t.Fatalf("items %d last %v, want %d %v", len(p.Items), p.Last(), tt.wantItems, tt.wantLast)
			}
		})
	}
}

func TestActiveSubmissionDecode(t *testing.T) {
	var a ActiveSubmission
	if err := json.Unmarshal([]byte(`{"id": 4, "name": "x", "status": "CANCELLED", "slurm_job_id": null, "extra": 1}`), &a); err != nil {
		t.Fatal(err)
	}
	if a.ID != 4 || a.Status == nil || *a.Status != StatusCancelled || a.SlurmJobID != nil || a.Name != "x" {
		t.Fatalf("got %+v", a)
	}
}

func TestSlurmJobDataWireHasExplicitNulls(t *testing.T) {
	id := 12
	reason := "None"
	tests := []struct {
		name string
		in   SlurmJobData
		want string
	}{
		{"empty", SlurmJobData{}, `{"slurm_job_id":null,"slurm_job_state":null,"slurm_job_info":"{}","slurm_job_state_reason":null}`},
		{"full", SlurmJobData{JobID: &id, JobState: StateRunning, JobInfo: `{"a":1}`, StateReason: &reason},
			`{"slurm_job_id":12,"slurm_job_state":"RUNNING","slurm_job_info":"{\"a\":1}","slurm_job_state_reason":"None"}`},
		{"new with reason", NewSlurmJobData(12, "RUNNING", `{"a":1}`, "None"),
			`{"slurm_job_id":12,"slurm_job_state":"RUNNING","slurm_job_info":"{\"a\":1}","slurm_job_state_reason":"None"}`},
		{"new without reason", NewSlurmJobData(13, "PENDING", "", ""),
			`{"slurm_job_id":13,"slurm_job_state":"PENDING","slurm_job_info":"{}","slurm_job_state_reason":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in.wire())
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("got %s\nwant %s", b, tt.want)
			}
		})
	}
	b, _ := json.Marshal(submittedBody{ID: 1, slurmJobDataJSON: SlurmJobData{JobID: &id, JobState: StatePending}.wire()})
	if want := `{"id":1,"slurm_job_id":12,"slurm_job_state":"PENDING","slurm_job_info":"{}","slurm_job_state_reason":null}`; string(b) != want {
		t.Fatalf("submitted body %s, want %s", b, want)
	}
}

func TestSlurmStateSets(t *testing.T) {
	abort := []SlurmJobState{StateBootFail, StateCancelled, StateDeadline, StateFailed, StateNodeFail,
		StatePreempted, StateSpecialExit, StateTimeout, StateUnknown}
	if len(SlurmJobStates) != 25 {
		t.Fatalf("%d states, want 25", len(SlurmJobStates))
	}
	for _, s := range SlurmJobStates {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		wantAbort := slices.Contains(abort, s)
		if s.IsAbort() != wantAbort || s.IsDone() != (s == StateCompleted) {
			t.Errorf("%s: abort %v done %v", s, s.IsAbort(), s.IsDone())
		}
		want := StatusSubmitted
		switch {
		case wantAbort:
			want = StatusAborted
		case s == StateCompleted:
			want = StatusDone
		}
		if got := StatusAfterUpdate(StatusSubmitted, s); got != want {
			t.Errorf("StatusAfterUpdate(SUBMITTED, %s) = %s, want %s", s, got, want)
		}
	}
	if StateOutOfMemory.IsTerminal() {
		t.Error("OUT_OF_MEMORY must not be terminal")
	}
	if SlurmJobState("RUNNING_FAST").Valid() {
		t.Error("unknown state valid")
	}
}

func TestMetricRowsMsgpack(t *testing.T) {
	rows := []MetricRow{
		{Time: 1700000000, Host: "node-1", Step: 0, Task: 1, Values: [10]float64{1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{Time: 1700000010, Host: "node-2", Step: 3, Task: 0},
	}
	b, err := EncodeMetricRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	// The wire form is generic arrays of 14 items: decode without our types.
	var generic [][]any
	if err := msgpack.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if len(generic) != 2 || len(generic[0]) != 14 {
		t.Fatalf("wire shape %d rows of %d", len(generic), len(generic[0]))
	}
	if h, ok := generic[0][1].(string); !ok || h != "node-1" {
		t.Fatalf("host item %T %v", generic[0][1], generic[0][1])
	}
	if v, ok := generic[0][4].(float64); !ok || v != 1.5 {
		t.Fatalf("first value %T %v", generic[0][4], generic[0][4])
	}
	back, err := DecodeMetricRows(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rows) {
		t.Fatalf("round trip %+v", back)
	}
	empty, err := EncodeMetricRows(nil)
	if err != nil || len(empty) != 1 || empty[0] != 0x90 { // msgpack empty array
		t.Fatalf("empty = %x, %v", empty, err)
	}
	if MaxMetricRowsPerRequest != 2340 {
		t.Fatalf("MaxMetricRowsPerRequest = %d", MaxMetricRowsPerRequest)
	}
}

func TestSubmissionsSurviveJSONRoundTrip(t *testing.T) {
	dir := "/tmp/x"
	job := 5
	status := StatusSubmitted
	tests := []any{
		&PendingSubmission{ID: 1, Name: "n", OwnerEmail: "e"}, // nil lists
		&PendingSubmission{ID: 2, Name: "n", OwnerEmail: "e", ExecutionDirectory: &dir, SbatchArguments: []string{"-N1"},
			JobScript: JobScript{Files: []JobScriptFile{{ParentID: 3, Filename: "f", FileType: FileTypeEntrypoint}}}},
		&ActiveSubmission{ID: 3, Status: &status, SlurmJobID: &job},
		&ActiveSubmission{ID: 4},
	}
	for _, in := range tests {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		out := reflect.New(reflect.TypeOf(in).Elem()).Interface()
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s does not decode: %v", b, err)
		}
		if p, ok := in.(*PendingSubmission); ok && p.SbatchArguments == nil {
			p.SbatchArguments = []string{}
			p.JobScript.Files = []JobScriptFile{}
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip of %s: %+v", b, out)
		}
	}
}
