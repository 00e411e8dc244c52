package jobbergatetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Seed is the JSON document LoadSeed reads. See testdata/seed.json for an example.
type Seed struct {
	// Clients are OIDC clients (clusters). A client without "permissions" gets AgentScopes.
	Clients     []Client        `json:"clients"`
	JobScripts  []SeedJobScript `json:"job_scripts"`
	Submissions []Submission    `json:"submissions"`
}

// SeedJobScript is a job script in a seed file; file contents are plain text.
type SeedJobScript struct {
	ID         int        `json:"id"`
	Name       string     `json:"name"`
	OwnerEmail string     `json:"owner_email"`
	Files      []SeedFile `json:"files"`
}

// SeedFile is a job script file in a seed file.
type SeedFile struct {
	Filename string `json:"filename"`
	FileType string `json:"file_type"`
	Content  string `json:"content"`
}

// ErrInvalidSeed is wrapped by every LoadSeed error about the seed's content.
var ErrInvalidSeed = errors.New("invalid seed")

// LoadSeed reads a JSON Seed from r and adds its clients, job scripts and submissions. The seed is
// validated as a whole first (unknown fields, file types, statuses, references between
// submissions and job scripts): on error nothing is added.
func (s *Server) LoadSeed(r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var seed Seed
	if err := dec.Decode(&seed); err != nil {
		return fmt.Errorf("%w: decode JSON: %w", ErrInvalidSeed, err)
	}
	if err := seed.validate(); err != nil {
		return err
	}
	for _, c := range seed.Clients {
		if c.Permissions == nil {
			c.Permissions = slices.Clone(AgentScopes)
		}
		s.AddClient(c)
	}
	for _, js := range seed.JobScripts {
		files := make([]File, len(js.Files))
		for i, f := range js.Files {
			files[i] = File{Filename: f.Filename, FileType: f.FileType, Content: []byte(f.Content)}
		}
		s.AddJobScript(JobScript{ID: js.ID, Name: js.Name, OwnerEmail: js.OwnerEmail, Files: files})
	}
	for _, sub := range seed.Submissions {
		s.AddSubmission(sub)
	}
	return nil
}

// LoadSeedFile is LoadSeed on the named file.
func (s *Server) LoadSeedFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open seed: %w", err)
	}
	defer f.Close()
	if err := s.LoadSeed(f); err != nil {
		return fmt.Errorf("load seed %s: %w", path, err)
	}
	return nil
}

func (seed *Seed) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidSeed}, args...)...))
	}
	for i, c := range seed.Clients {
		if c.ID == "" || c.Secret == "" {
			bad("clients[%d]: id and secret are required", i)
		}
	}
	scripts := map[int]bool{}
	for i, js := range seed.JobScripts {
		if js.ID <= 0 {
			bad("job_scripts[%d]: id must be > 0", i)
		}
		if scripts[js.ID] {
			bad("job_scripts[%d]: duplicate id %d", i, js.ID)
		}
		scripts[js.ID] = true
		for j, f := range js.Files {
			if f.Filename == "" {
				bad("job_scripts[%d].files[%d]: filename is required", i, j)
			}
			if f.FileType != FileTypeEntrypoint && f.FileType != FileTypeSupport {
				bad("job_scripts[%d].files[%d]: file_type %q is not ENTRYPOINT or SUPPORT", i, j, f.FileType)
			}
		}
	}
	subs := map[int]bool{}
	for i, sub := range seed.Submissions {
		if sub.ID <= 0 {
			bad("submissions[%d]: id must be > 0", i)
		}
		if subs[sub.ID] {
			bad("submissions[%d]: duplicate id %d", i, sub.ID)
		}
		subs[sub.ID] = true
		if sub.ClientID == "" {
			bad("submissions[%d]: client_id is required", i)
		}
		if !scripts[sub.JobScriptID] {
			bad("submissions[%d]: job_script_id %d is not in job_scripts", i, sub.JobScriptID)
		}
		if sub.Status != "" && !validStatuses[sub.Status] {
			bad("submissions[%d]: unknown status %q", i, sub.Status)
		}
		if sub.SlurmJobState != nil && !slurmStates[*sub.SlurmJobState] {
			bad("submissions[%d]: unknown slurm_job_state %q", i, *sub.SlurmJobState)
		}
		if len(sub.Progress) > 0 {
			bad("submissions[%d]: progress is read-only", i)
		}
	}
	return errors.Join(errs...)
}
