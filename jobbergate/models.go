package jobbergate

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// FileType says what a job script file is for.
type FileType string

// Job script file types. Any other value fails validation.
const (
	FileTypeEntrypoint FileType = "ENTRYPOINT"
	FileTypeSupport    FileType = "SUPPORT"
)

// JobScriptFile is one file of a job script. Its content is downloaded with Client.DownloadFile
// from /jobbergate/job-scripts/{ParentID}/upload/{Filename}.
type JobScriptFile struct {
	ParentID int      `json:"parent_id"`
	Filename string   `json:"filename"`
	FileType FileType `json:"file_type"`
}

// UnmarshalJSON decodes and validates a file: parent_id, filename and file_type are required and
// file_type must be ENTRYPOINT or SUPPORT. Unknown fields are ignored.
func (f *JobScriptFile) UnmarshalJSON(b []byte) error {
	var raw struct {
		ParentID *int    `json:"parent_id"`
		Filename *string `json:"filename"`
		FileType *string `json:"file_type"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.ParentID == nil:
		return validationErr("parent_id", "field required")
	case raw.Filename == nil:
		return validationErr("filename", "field required")
	case raw.FileType == nil:
		return validationErr("file_type", "field required")
	}
	ft := FileType(*raw.FileType)
	if ft != FileTypeEntrypoint && ft != FileTypeSupport {
		return validationErr("file_type", fmt.Sprintf("must be ENTRYPOINT or SUPPORT, got %q", *raw.FileType))
	}
	*f = JobScriptFile{ParentID: *raw.ParentID, Filename: *raw.Filename, FileType: ft}
	return nil
}

// JobScript is the job script of a pending submission, reduced to what the agent needs.
type JobScript struct {
	Files []JobScriptFile `json:"files"`
}

// UnmarshalJSON decodes a job script: files defaults to empty when absent; an explicit null is
// invalid. Unknown fields are ignored.
func (j *JobScript) UnmarshalJSON(b []byte) error {
	var raw struct {
		Files json.RawMessage `json:"files"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	files := []JobScriptFile{}
	if raw.Files != nil {
		if isNull(raw.Files) {
			return validationErr("files", "null is not a valid list")
		}
		if err := json.Unmarshal(raw.Files, &files); err != nil {
			return fieldErr("files", err)
		}
	}
	j.Files = files
	return nil
}

// MarshalJSON writes files as a list ([] when nil), so that the output always decodes again.
func (j JobScript) MarshalJSON() ([]byte, error) {
	type plain JobScript
	p := plain(j)
	if p.Files == nil {
		p.Files = []JobScriptFile{}
	}
	return json.Marshal(p)
}

// Entrypoint returns the job script's ENTRYPOINT file, if it has one.
func (j JobScript) Entrypoint() (JobScriptFile, bool) {
	for _, f := range j.Files {
		if f.FileType == FileTypeEntrypoint {
			return f, true
		}
	}
	return JobScriptFile{}, false
}

// PendingSubmission is a submission in status CREATED that the agent must submit to Slurm.
type PendingSubmission struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	OwnerEmail string `json:"owner_email"`
	// ExecutionDirectory is nil when the API has none (the agent then uses its default).
	ExecutionDirectory *string `json:"execution_directory"`
	// SbatchArguments is never nil after decoding (empty when absent).
	SbatchArguments []string  `json:"sbatch_arguments"`
	JobScript       JobScript `json:"job_script"`
}

// UnmarshalJSON decodes and validates a pending submission: id, name, owner_email and
// job_script are required; execution_directory may be absent or null; sbatch_arguments defaults
// to empty when absent and an explicit null is invalid. Unknown fields are ignored.
func (p *PendingSubmission) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID                 *int            `json:"id"`
		Name               *string         `json:"name"`
		OwnerEmail         *string         `json:"owner_email"`
		ExecutionDirectory *string         `json:"execution_directory"`
		SbatchArguments    json.RawMessage `json:"sbatch_arguments"`
		JobScript          json.RawMessage `json:"job_script"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.ID == nil:
		return validationErr("id", "field required")
	case raw.Name == nil:
		return validationErr("name", "field required")
	case raw.OwnerEmail == nil:
		return validationErr("owner_email", "field required")
	case raw.JobScript == nil || isNull(raw.JobScript):
		return validationErr("job_script", "field required")
	}
	args := []string{}
	if raw.SbatchArguments != nil {
		if isNull(raw.SbatchArguments) {
			return validationErr("sbatch_arguments", "null is not a valid list")
		}
		if err := json.Unmarshal(raw.SbatchArguments, &args); err != nil {
			return fieldErr("sbatch_arguments", err)
		}
	}
	var js JobScript
	if err := json.Unmarshal(raw.JobScript, &js); err != nil {
		return fieldErr("job_script", err)
	}
	*p = PendingSubmission{
		ID:                 *raw.ID,
		Name:               *raw.Name,
		OwnerEmail:         *raw.OwnerEmail,
		ExecutionDirectory: raw.ExecutionDirectory,
		SbatchArguments:    args,
		JobScript:          js,
	}
	return nil
}

// MarshalJSON writes the API's field names, sbatch_arguments as a list ([] when nil), so that
// the output (e.g. a message payload) always decodes again with UnmarshalJSON.
func (p PendingSubmission) MarshalJSON() ([]byte, error) {
	type plain PendingSubmission
	q := plain(p)
	if q.SbatchArguments == nil {
		q.SbatchArguments = []string{}
	}
	return json.Marshal(q)
}

// ActiveSubmission is a submission in status SUBMITTED or CANCELLED whose Slurm job the agent
// follows.
type ActiveSubmission struct {
	ID int `json:"id"`
	// Name is informative only (the API sends it; the reference ignores it).
	Name string `json:"name,omitempty"`
	// Status is nil when the API sends null.
	Status *SubmissionStatus `json:"status"`
	// SlurmJobID is nil when no Slurm job was recorded (e.g. cancelled before submission).
	SlurmJobID *int `json:"slurm_job_id"`
}

// UnmarshalJSON decodes and validates an active submission: id is required, status and
// slurm_job_id may be null or absent. Unknown fields are ignored.
func (a *ActiveSubmission) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID         *int              `json:"id"`
		Name       *string           `json:"name"`
		Status     *SubmissionStatus `json:"status"`
		SlurmJobID *int              `json:"slurm_job_id"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw.ID == nil {
		return validationErr("id", "field required")
	}
	*a = ActiveSubmission{ID: *raw.ID, Status: raw.Status, SlurmJobID: raw.SlurmJobID}
	if raw.Name != nil {
		a.Name = *raw.Name
	}
	return nil
}

// Page is one page of a paginated list (the API's ListResponseEnvelope). Decoding requires all
// five fields; Pages is ceil(Total/Size) and 0 for an empty list.
type Page[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Size  int `json:"size"`
	Pages int `json:"pages"`
}

// Last reports whether no page follows this one (page >= pages, so pages: 0 is last too).
func (p *Page[T]) Last() bool { return p.Page >= p.Pages }

// UnmarshalJSON decodes and validates an envelope: items, total, page, size and pages are all
// required and non-null, items holds at most MaxPageItems elements (counted before any is
// decoded), and every item must decode (and validate) as a T.
func (p *Page[T]) UnmarshalJSON(b []byte) error {
	var raw struct {
		Items *json.RawMessage `json:"items"`
		Total *int             `json:"total"`
		Page  *int             `json:"page"`
		Size  *int             `json:"size"`
		Pages *int             `json:"pages"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.Items == nil:
		return validationErr("items", "field required")
	case raw.Total == nil:
		return validationErr("total", "field required")
	case raw.Page == nil:
		return validationErr("page", "field required")
	case raw.Size == nil:
		return validationErr("size", "field required")
	case raw.Pages == nil:
		return validationErr("pages", "field required")
	}
	if err := checkItemCount(*raw.Items, MaxPageItems); err != nil {
		return err
	}
	items := []T{}
	if err := json.Unmarshal(*raw.Items, &items); err != nil {
		return fieldErr("items", err)
	}
	*p = Page[T]{Items: items, Total: *raw.Total, Page: *raw.Page, Size: *raw.Size, Pages: *raw.Pages}
	return nil
}

// SlurmJobData is what the agent reports about a Slurm job when it marks a submission as
// submitted (MarkSubmitted) or updates it (UpdateJob). It is sent with explicit JSON nulls, as
// the reference agent does.
type SlurmJobData struct {
	// JobID is the Slurm job id; nil sends null.
	JobID *int
	// JobState is the Slurm state; "" sends null (which the API refuses with 422).
	JobState SlurmJobState
	// JobInfo is the job's description as JSON text; "" sends "{}".
	JobInfo string
	// StateReason is Slurm's reason for the state; nil sends null.
	StateReason *string
}

// NewSlurmJobData is the report of Slurm job jobID in state with info (its description as JSON
// text) and reason, as Slurm gives them: an empty reason is sent as null.
func NewSlurmJobData(jobID int64, state, info, reason string) SlurmJobData {
	id := int(jobID)
	d := SlurmJobData{JobID: &id, JobState: SlurmJobState(state), JobInfo: info}
	if reason != "" {
		d.StateReason = &reason
	}
	return d
}

// slurmJobDataJSON is the wire form of SlurmJobData: every key always present.
type slurmJobDataJSON struct {
	SlurmJobID          *int    `json:"slurm_job_id"`
	SlurmJobState       *string `json:"slurm_job_state"`
	SlurmJobInfo        string  `json:"slurm_job_info"`
	SlurmJobStateReason *string `json:"slurm_job_state_reason"`
}

func (d SlurmJobData) wire() slurmJobDataJSON {
	w := slurmJobDataJSON{SlurmJobID: d.JobID, SlurmJobInfo: d.JobInfo, SlurmJobStateReason: d.StateReason}
	if d.JobState != "" {
		s := string(d.JobState)
		w.SlurmJobState = &s
	}
	if w.SlurmJobInfo == "" {
		w.SlurmJobInfo = "{}"
	}
	return w
}

// submittedBody is the body of POST /jobbergate/job-submissions/agent/submitted.
type submittedBody struct {
	ID int `json:"id"`
	slurmJobDataJSON
}

// rejectedBody is the body of POST /jobbergate/job-submissions/agent/rejected.
type rejectedBody struct {
	ID            int    `json:"id"`
	ReportMessage string `json:"report_message"`
}

// MetricsMaxTime is the latest stored sample time (epoch seconds) of one (host, step, task)
// series of a submission.
type MetricsMaxTime struct {
	MaxTime  int64  `json:"max_time"`
	NodeHost string `json:"node_host"`
	Step     int    `json:"step"`
	Task     int    `json:"task"`
}

// MetricsMaxTimes is the API's answer to GET /jobbergate/job-submissions/agent/metrics/{id}:
// one entry per series already stored, empty when none.
type MetricsMaxTimes struct {
	JobSubmissionID int              `json:"job_submission_id"`
	MaxTimes        []MetricsMaxTime `json:"max_times"`
}

func isNull(b json.RawMessage) bool { return string(b) == "null" }

// checkItemCount fails when the JSON array raw holds more than limit elements, counting them
// without decoding them (each is skipped into one reused buffer). Anything but an array passes:
// decoding it into a slice reports the error.
func checkItemCount(raw json.RawMessage, limit int) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil
	}
	var skip json.RawMessage
	for n := 0; dec.More(); n++ {
		if n == limit {
			return validationErr("items", fmt.Sprintf("more than %d items in one page", limit))
		}
		if err := dec.Decode(&skip); err != nil {
			return nil // malformed: decoding the items reports it
		}
	}
	return nil
}
