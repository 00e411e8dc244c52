package jobbergatetest

import (
	"fmt"
	"net/http"
)

// The /dev/ endpoints are unauthenticated read-only views of the server state, for demos and
// black-box tests. They are not part of the Jobbergate API.

// handleDevSubmissions returns every submission (status, report_message, slurm fields and
// progress history), ordered by id.
func (s *Server) handleDevSubmissions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Submissions())
}

// handleDevSubmission returns one submission or 404.
func (s *Server) handleDevSubmission(w http.ResponseWriter, r *http.Request) {
	id, perr := pathID(r, "id")
	if perr != nil {
		writeValidation(w, []fieldError{*perr})
		return
	}
	sub, ok := s.Submission(id)
	if !ok {
		writeDetail(w, http.StatusNotFound, fmt.Sprintf("%s entry was not found by locator=%d", tableSubmissions, id))
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

// handleDevMetrics returns the stored metric rows of a submission.
func (s *Server) handleDevMetrics(w http.ResponseWriter, r *http.Request) {
	id, perr := pathID(r, "id")
	if perr != nil {
		writeValidation(w, []fieldError{*perr})
		return
	}
	rows := s.Metrics(id)
	if rows == nil {
		rows = []MetricRow{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"job_submission_id": id, "rows": rows})
}

// handleDevClusters returns every cluster status with is_healthy computed now.
func (s *Server) handleDevClusters(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.clusterViews())
}
