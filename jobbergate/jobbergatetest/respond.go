package jobbergatetest

import (
	"encoding/json"
	"net/http"
)

// writeJSON writes v as a JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"detail":"Internal Server Error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeDetail writes a FastAPI-style error body {"detail": detail}.
func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

// fieldError is one entry of a FastAPI (pydantic v2) validation error list.
type fieldError struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// writeValidation answers 422 with {"detail": [errors...]}, as FastAPI does.
func writeValidation(w http.ResponseWriter, errs []fieldError) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
}

// Texts of the API's error details (section 13 of the spec).
const (
	detailNotAuthenticated = "Not authenticated"
	detailForbidden        = "Not authorized"
	detailNoClientID       = "Checked expressions failed: Access token does not contain\n  1: client_id"
	detailClientMismatch   = "Mismatch on attribute(s): client_id"
	detailOnlyCreatedSub   = "Only CREATED Job Submissions can be marked as SUBMITTED"
	detailOnlyCreatedRej   = "Only CREATED Job Submissions can be marked as REJECTED"
	detailMetricsInsert    = "Failed to insert metrics"
	detailInternal         = "Internal Server Error"
	tableSubmissions       = "job_submissions"
	tableScripts           = "job_scripts"
)
