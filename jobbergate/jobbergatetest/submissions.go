package jobbergatetest

import (
	"fmt"
	"net/http"
	"time"
)

// page is the pagination envelope of list endpoints.
type page[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Size  int `json:"size"`
	Pages int `json:"pages"`
}

// paginate validates page (>=1, default 1) and size (1..100, default 50) and slices items.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) (page[T], bool) {
	var errs []fieldError
	pg, e1 := queryInt(r, "page", 1, 1, 0, false)
	size, e2 := queryInt(r, "size", 50, 1, 100, false)
	for _, e := range []*fieldError{e1, e2} {
		if e != nil {
			errs = append(errs, *e)
		}
	}
	if len(errs) > 0 {
		writeValidation(w, errs)
		return page[T]{}, false
	}
	total := len(items)
	out := page[T]{Items: []T{}, Total: total, Page: pg, Size: size, Pages: (total + size - 1) / size}
	if start := (pg - 1) * size; start < total {
		out.Items = items[start:min(start+size, total)]
	}
	return out, true
}

type pendingFile struct {
	ParentID  int       `json:"parent_id"`
	Filename  string    `json:"filename"`
	FileType  string    `json:"file_type"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type pendingScript struct {
	ID         int           `json:"id"`
	Name       string        `json:"name"`
	OwnerEmail string        `json:"owner_email"`
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
	IsArchived bool          `json:"is_archived"`
	Files      []pendingFile `json:"files"`
}

// pendingItem is a pending submission on the wire: null fields are omitted.
type pendingItem struct {
	ID                  int            `json:"id"`
	Name                string         `json:"name"`
	OwnerEmail          string         `json:"owner_email"`
	ExecutionDirectory  *string        `json:"execution_directory,omitempty"`
	ExecutionParameters map[string]any `json:"execution_parameters"`
	SbatchArguments     *[]string      `json:"sbatch_arguments,omitempty"`
	JobScript           pendingScript  `json:"job_script"`
}

// activeItem is an active submission on the wire: nulls are kept.
type activeItem struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	SlurmJobID *int   `json:"slurm_job_id"`
}

// handlePending lists the CREATED submissions of the caller's cluster.
func (s *Server) handlePending(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r, ScopeAdmin, ScopeSubmissionsRead)
	if !ok || !requireClientID(w, id) {
		return
	}
	s.mu.Lock()
	var items []pendingItem
	for _, sid := range s.sortedSubIDs() {
		sub := s.subs[sid]
		if sub.Status != StatusCreated || sub.ClientID != id.clientID {
			continue
		}
		js, ok := s.scripts[sub.JobScriptID]
		if !ok {
			s.mu.Unlock()
			// The reference fails to serialise a submission whose job script is gone.
			s.log.Error("pending submission without job script", "submission_id", sub.ID, "job_script_id", sub.JobScriptID)
			http.Error(w, detailInternal, http.StatusInternalServerError)
			return
		}
		item := pendingItem{
			ID: sub.ID, Name: sub.Name, OwnerEmail: sub.OwnerEmail,
			ExecutionDirectory:  clonePtr(sub.ExecutionDirectory),
			ExecutionParameters: map[string]any{},
			JobScript: pendingScript{
				ID: js.ID, Name: js.Name, OwnerEmail: js.OwnerEmail,
				CreatedAt: js.createdAt, UpdatedAt: js.createdAt, Files: []pendingFile{},
			},
		}
		if sub.SbatchArguments != nil {
			args := append([]string{}, sub.SbatchArguments...)
			item.SbatchArguments = &args
		}
		for _, f := range js.Files {
			item.JobScript.Files = append(item.JobScript.Files, pendingFile{
				ParentID: js.ID, Filename: f.Filename, FileType: f.FileType, CreatedAt: js.createdAt, UpdatedAt: js.createdAt,
			})
		}
		items = append(items, item)
	}
	s.mu.Unlock()
	if out, ok := paginate(w, r, items); ok {
		writeJSON(w, http.StatusOK, out)
	}
}

// handleActive lists the SUBMITTED and CANCELLED submissions of the caller's cluster.
func (s *Server) handleActive(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r, ScopeAdmin, ScopeSubmissionsRead)
	if !ok || !requireClientID(w, id) {
		return
	}
	s.mu.Lock()
	var items []activeItem
	for _, sid := range s.sortedSubIDs() {
		sub := s.subs[sid]
		if (sub.Status != StatusSubmitted && sub.Status != StatusCancelled) || sub.ClientID != id.clientID {
			continue
		}
		items = append(items, activeItem{ID: sub.ID, Name: sub.Name, Status: sub.Status, SlurmJobID: clonePtr(sub.SlurmJobID)})
	}
	s.mu.Unlock()
	if out, ok := paginate(w, r, items); ok {
		writeJSON(w, http.StatusOK, out)
	}
}

// loadOwned finds submission id and checks it belongs to clientID, writing 404 or 403 otherwise.
// Caller holds s.mu.
func (s *Server) loadOwned(w http.ResponseWriter, id int, clientID string) (*Submission, bool) {
	sub, ok := s.subs[id]
	if !ok {
		writeDetail(w, http.StatusNotFound, fmt.Sprintf("%s entry was not found by locator=%d", tableSubmissions, id))
		return nil, false
	}
	if sub.ClientID != clientID {
		writeDetail(w, http.StatusForbidden, detailClientMismatch)
		return nil, false
	}
	return sub, true
}

// handleSubmitted marks a CREATED (or CANCELLED) submission as submitted to Slurm.
func (s *Server) handleSubmitted(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r, ScopeAdmin, ScopeSubmissionsUpdate)
	if !ok || !requireClientID(w, id) {
		return
	}
	b := readJSONBody(r)
	subID := b.int("id", true, false, -1<<62)
	jobID := b.int("slurm_job_id", true, false, 0)
	state := b.slurmState("slurm_job_state")
	info := b.str("slurm_job_info", true, false)
	reason := b.str("slurm_job_state_reason", false, true)
	if !b.ok() {
		writeValidation(w, b.errs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.loadOwned(w, *subID, id.clientID)
	if !ok {
		return
	}
	if sub.Status != StatusCreated && sub.Status != StatusCancelled {
		writeDetail(w, http.StatusBadRequest, detailOnlyCreatedSub)
		return
	}
	sub.SlurmJobID, sub.SlurmJobState, sub.SlurmJobInfo = jobID, state, info
	sub.SlurmJobStateReason, sub.ReportMessage = reason, clonePtr(reason)
	if sub.Status != StatusCancelled {
		sub.Status = StatusSubmitted
	}
	s.addProgress(sub, state, reason)
	s.log.Info("submission marked submitted", "submission_id", sub.ID, "slurm_job_id", *jobID, "status", sub.Status)
	w.WriteHeader(http.StatusAccepted)
}

// handleRejected marks a CREATED submission as rejected with a report message.
func (s *Server) handleRejected(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r, ScopeAdmin, ScopeSubmissionsUpdate)
	if !ok || !requireClientID(w, id) {
		return
	}
	b := readJSONBody(r)
	subID := b.int("id", true, false, -1<<62)
	msg := b.str("report_message", true, false)
	if !b.ok() {
		writeValidation(w, b.errs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.loadOwned(w, *subID, id.clientID)
	if !ok {
		return
	}
	if sub.Status != StatusCreated {
		writeDetail(w, http.StatusBadRequest, detailOnlyCreatedRej)
		return
	}
	sub.Status, sub.ReportMessage = StatusRejected, msg
	s.addProgress(sub, nil, msg)
	s.log.Info("submission marked rejected", "submission_id", sub.ID)
	w.WriteHeader(http.StatusAccepted)
}

// handleAgentUpdate stores the Slurm state of a SUBMITTED or CANCELLED submission and applies
// the status mapping: abort states -> ABORTED (report_message = reason), COMPLETED -> DONE.
func (s *Server) handleAgentUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r, ScopeAdmin, ScopeSubmissionsUpdate)
	if !ok || !requireClientID(w, id) {
		return
	}
	subID, perr := pathID(r, "id")
	b := readJSONBody(r)
	if perr != nil {
		b.errs = append([]fieldError{*perr}, b.errs...)
	}
	state := b.slurmState("slurm_job_state")
	info := b.str("slurm_job_info", true, false)
	jobID := b.int("slurm_job_id", false, true, 0)
	reason := b.str("slurm_job_state_reason", false, true)
	if !b.ok() {
		writeValidation(w, b.errs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.loadOwned(w, subID, id.clientID)
	if !ok {
		return
	}
	if sub.Status != StatusSubmitted && sub.Status != StatusCancelled {
		writeDetail(w, http.StatusBadRequest, "Only SUBMITTED or CANCELLED jobs may be updated by the agent, got "+sub.Status)
		return
	}
	if !equalPtr(sub.SlurmJobID, jobID) {
		writeDetail(w, http.StatusConflict, fmt.Sprintf(
			"Update slurm job id does not match the job id on record for job submission job_submission_id=%d", subID))
		return
	}
	changed := sub.SlurmJobState == nil || *sub.SlurmJobState != *state
	sub.SlurmJobID, sub.SlurmJobState, sub.SlurmJobInfo, sub.SlurmJobStateReason = jobID, state, info, reason
	switch {
	case abortStates[*state]:
		sub.Status, sub.ReportMessage = StatusAborted, clonePtr(reason)
	case *state == "COMPLETED":
		sub.Status = StatusDone
	}
	if changed {
		s.addProgress(sub, state, reason)
	}
	s.log.Info("submission updated by agent", "submission_id", sub.ID, "slurm_job_state", *state, "status", sub.Status)
	w.WriteHeader(http.StatusAccepted)
}

// handleFileDownload serves one job script file as text/plain with a filename header. There is
// no client-id or ownership check, as in the reference.
func (s *Server) handleFileDownload(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r, ScopeAdmin, ScopeScriptsRead); !ok {
		return
	}
	scriptID, perr := pathID(r, "id")
	if perr != nil {
		writeValidation(w, []fieldError{*perr})
		return
	}
	name := r.PathValue("filename")
	s.mu.Lock()
	js, ok := s.scripts[scriptID]
	var content []byte
	found := false
	if ok {
		for _, f := range js.Files {
			if f.Filename == name {
				content, found = append([]byte(nil), f.Content...), true
				break
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		writeDetail(w, http.StatusNotFound, fmt.Sprintf("%s entry was not found by locator=%d", tableScripts, scriptID))
		return
	}
	if !found {
		writeDetail(w, http.StatusNotFound, fmt.Sprintf("File %s was not found for job_script_id=%d", name, scriptID))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("filename", name)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(content)
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
