package jobbergatetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/vmihailenco/msgpack/v5"
)

// metricColumns is the number of elements of one metric row on the wire.
const metricColumns = 14

// maxMetricElements is PostgreSQL's query parameter limit (2**15 - 1) the API checks rows × 14 against.
const maxMetricElements = 1<<15 - 1

// errMetricsValidation marks a payload refused with 400 (the message is the API's detail).
var errMetricsValidation = errors.New("metrics payload invalid")

// errMetricsCast marks a payload the API fails on with 500 (undecodable or a failed cast).
var errMetricsCast = errors.New("metrics payload cannot be cast")

type maxTime struct {
	MaxTime  int64  `json:"max_time"`
	NodeHost string `json:"node_host"`
	Step     int    `json:"step"`
	Task     int    `json:"task"`
}

// handleMetricsGet returns the latest stored time per (node_host, step, task). As in the
// reference there is no existence or ownership check on the submission.
func (s *Server) handleMetricsGet(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r, ScopeAdmin, ScopeSubmissionsRead)
	if !ok || !requireClientID(w, id) {
		return
	}
	subID, perr := pathID(r, "id")
	if perr != nil {
		writeValidation(w, []fieldError{*perr})
		return
	}
	type series struct {
		host       string
		step, task int
	}
	s.mu.Lock()
	latest := map[series]int64{}
	for _, row := range s.metrics[subID] {
		k := series{row.NodeHost, row.Step, row.Task}
		if t, seen := latest[k]; !seen || row.Time > t {
			latest[k] = row.Time
		}
	}
	s.mu.Unlock()
	out := make([]maxTime, 0, len(latest))
	for k, t := range latest {
		out = append(out, maxTime{MaxTime: t, NodeHost: k.host, Step: k.step, Task: k.task})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.NodeHost != b.NodeHost {
			return a.NodeHost < b.NodeHost
		}
		if a.Step != b.Step {
			return a.Step < b.Step
		}
		return a.Task < b.Task
	})
	writeJSON(w, http.StatusOK, map[string]any{"job_submission_id": subID, "max_times": out})
}

// handleMetricsPut decodes a msgpack batch of metric rows and stores it atomically: any invalid
// row or duplicate key rejects the whole batch.
func (s *Server) handleMetricsPut(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r, ScopeAdmin, ScopeSubmissionsUpdate)
	if !ok || !requireClientID(w, id) {
		return
	}
	subID, perr := pathID(r, "id")
	if perr != nil {
		writeValidation(w, []fieldError{*perr})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeDetail(w, http.StatusBadRequest, "Could not read the request body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.loadOwned(w, subID, id.clientID); !ok {
		return
	}
	rows, err := decodeMetricRows(body)
	switch {
	case errors.Is(err, errMetricsValidation):
		writeDetail(w, http.StatusBadRequest, errors.Unwrap(err).Error())
		return
	case err != nil:
		s.log.Warn("metrics upload failed", "submission_id", subID, "error", err)
		http.Error(w, detailInternal, http.StatusInternalServerError)
		return
	}
	keys := make(map[metricKey]struct{}, len(rows))
	for _, row := range rows {
		k := metricKey{time: row.Time, submissionID: subID, host: row.NodeHost, step: row.Step, task: row.Task}
		_, inBatch := keys[k]
		_, stored := s.metricKeys[k]
		if inBatch || stored {
			s.log.Warn("metrics upload refused: duplicate key", "submission_id", subID,
				"time", row.Time, "node_host", row.NodeHost, "step", row.Step, "task", row.Task)
			writeDetail(w, http.StatusBadRequest, detailMetricsInsert)
			return
		}
		keys[k] = struct{}{}
	}
	for k := range keys {
		s.metricKeys[k] = struct{}{}
	}
	s.metrics[subID] = append(s.metrics[subID], rows...)
	s.log.Info("metrics stored", "submission_id", subID, "rows", len(rows))
	w.WriteHeader(http.StatusNoContent)
}

// validationError wraps an API detail text so that errors.Is(err, errMetricsValidation) holds
// and errors.Unwrap(err) is the bare detail.
type validationError struct{ detail error }

func (e validationError) Error() string        { return e.detail.Error() }
func (e validationError) Unwrap() error        { return e.detail }
func (e validationError) Is(target error) bool { return target == errMetricsValidation }

func invalid(detail string) error { return validationError{errors.New(detail)} }

// decodeMetricRows applies the API's checks in order: msgpack decoding (failure: 500), list
// (400), every element a sequence (400), every element of length 14 (400), rows × 14 ≤ 32767
// (400), then casts to (int, str, int, int, float, float, float, int, float, int, int, int, int,
// int) like Python's int()/str()/float() (failure: 500).
func decodeMetricRows(body []byte) ([]MetricRow, error) {
	rd := bytes.NewReader(body)
	dec := msgpack.NewDecoder(rd)
	data, err := dec.DecodeInterface()
	if err != nil {
		return nil, fmt.Errorf("%w: decode msgpack: %v", errMetricsCast, err)
	}
	if rd.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes of extra data after the msgpack value", errMetricsCast, rd.Len())
	}
	list, ok := data.([]any)
	if !ok {
		return nil, invalid("Decoded data must be a list.")
	}
	seqs := make([][]any, len(list))
	for i, el := range list {
		seq, ok := el.([]any)
		if !ok {
			return nil, invalid("All elements of the inner data must be a Sequence")
		}
		seqs[i] = seq
	}
	for _, seq := range seqs {
		if len(seq) != metricColumns {
			return nil, invalid("Every iterable in `data` must match the length of `expected_types`.")
		}
	}
	if len(seqs)*metricColumns > maxMetricElements {
		limit := (maxMetricElements + metricColumns - 1) / metricColumns // ceil, as printed by the API
		return nil, invalid(fmt.Sprintf("The maximum number of elements has been exceeded. Maximum is %d, received %d", limit, len(seqs)))
	}
	// Columns 4.. are float except the int columns GPUMemMB, Pages, RSS, ReadMB, VMSize, WriteMB.
	intValue := [10]bool{false, false, false, true, false, true, true, true, true, true}
	rows := make([]MetricRow, len(seqs))
	for i, seq := range seqs {
		var row MetricRow
		var err error
		if row.Time, err = pyInt(seq[0]); err != nil {
			return nil, fmt.Errorf("%w: row %d time: %v", errMetricsCast, i, err)
		}
		row.NodeHost = pyStr(seq[1])
		step, err := pyInt(seq[2])
		if err != nil {
			return nil, fmt.Errorf("%w: row %d step: %v", errMetricsCast, i, err)
		}
		task, err := pyInt(seq[3])
		if err != nil {
			return nil, fmt.Errorf("%w: row %d task: %v", errMetricsCast, i, err)
		}
		row.Step, row.Task = int(step), int(task)
		for j := range 10 {
			v := seq[4+j]
			if intValue[j] {
				n, err := pyInt(v)
				if err != nil {
					return nil, fmt.Errorf("%w: row %d column %d: %v", errMetricsCast, i, 4+j, err)
				}
				row.Values[j] = float64(n)
			} else {
				f, err := pyFloat(v)
				if err != nil {
					return nil, fmt.Errorf("%w: row %d column %d: %v", errMetricsCast, i, 4+j, err)
				}
				row.Values[j] = f
			}
		}
		rows[i] = row
	}
	return rows, nil
}
