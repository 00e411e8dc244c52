package jobbergatetest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func metricRow(t int64, host string, step, task any) []any {
	return []any{t, host, step, task, 2400.0, 1.5, 99.5, 0, 0.0, 3, 60940, 1, 250000, 2}
}

func putMetrics(t *testing.T, f *fixture, id any, payload any) (int, []byte) {
	t.Helper()
	var body []byte
	switch p := payload.(type) {
	case []byte:
		body = p
	default:
		var err error
		if body, err = msgpack.Marshal(p); err != nil {
			t.Fatalf("msgpack: %v", err)
		}
	}
	status, data, _ := request(t, http.MethodPut, fmt.Sprintf("%s/metrics/%v", f.agent, id), f.tokA, "application/octet-stream", body)
	return status, data
}

func rows(n int, start int64) [][]any {
	out := make([][]any, n)
	for i := range out {
		out[i] = metricRow(start+int64(i), "node1", -5, 0)
	}
	return out
}

func TestMetricsUploadAndMaxTimes(t *testing.T) {
	f := newFixture(t)
	sub := f.addSub(StatusSubmitted, func(s *Submission) { s.SlurmJobID = ptr(9) })
	status, body := putMetrics(t, f, sub, [][]any{
		metricRow(100, "node1", -5, 0),
		metricRow(101, "node1", -5, 0),
		metricRow(90, "node1", 0, 0),
		metricRow(95, "node2", "0", "1"), // numeric strings are cast
	})
	if status != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("upload: %d %s", status, body)
	}
	stored := f.s.Metrics(sub)
	if len(stored) != 4 {
		t.Fatalf("stored %d rows", len(stored))
	}
	want0 := MetricRow{Time: 100, NodeHost: "node1", Step: -5, Task: 0, Values: [10]float64{2400, 1.5, 99.5, 0, 0, 3, 60940, 1, 250000, 2}}
	if stored[0] != want0 || stored[3].Step != 0 || stored[3].Task != 1 || stored[3].NodeHost != "node2" {
		t.Fatalf("stored rows: %+v", stored)
	}
	status, body, _ = request(t, http.MethodGet, fmt.Sprintf("%s/metrics/%d", f.agent, sub), f.tokA, "", nil)
	var got struct {
		JobSubmissionID int       `json:"job_submission_id"`
		MaxTimes        []maxTime `json:"max_times"`
	}
	if status != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("max times: %d %s", status, body)
	}
	want := []maxTime{{101, "node1", -5, 0}, {90, "node1", 0, 0}, {95, "node2", 0, 1}}
	if got.JobSubmissionID != sub || !reflect.DeepEqual(got.MaxTimes, want) {
		t.Fatalf("max_times %+v, want %+v", got, want)
	}
	// No existence check on GET: an unknown id gives an empty list.
	status, body, _ = request(t, http.MethodGet, f.agent+"/metrics/5555", f.tokA, "", nil)
	if status != 200 || string(body) != `{"job_submission_id":5555,"max_times":[]}` {
		t.Fatalf("unknown submission max times: %d %s", status, body)
	}
	noClient := f.s.MintToken(TokenClaims{Permissions: AgentScopes})
	status, body, _ = request(t, http.MethodGet, f.agent+"/metrics/5555", noClient, "", nil)
	expect(t, "get without client id", status, body, 400, "Checked expressions failed: Access token does not contain\n  1: client_id")
	// /dev/metrics shows the rows.
	status, body, _ = request(t, http.MethodGet, fmt.Sprintf("%s/dev/metrics/%d", f.s.URL(), sub), "", "", nil)
	var dev struct {
		Rows []MetricRow `json:"rows"`
	}
	if status != 200 || json.Unmarshal(body, &dev) != nil || len(dev.Rows) != 4 || dev.Rows[0] != want0 {
		t.Fatalf("dev metrics: %d %s", status, body)
	}
}

func TestMetricsUploadRefusals(t *testing.T) {
	f := newFixture(t)
	sub := f.addSub(StatusSubmitted)
	other := f.addSub(StatusSubmitted, func(s *Submission) { s.ClientID = "cluster-b" })
	short := metricRow(1, "n", 0, 0)[:13]
	badStep := metricRow(1, "n", "batch", 0)
	nullValue := metricRow(1, "n", 0, 0)
	nullValue[10] = nil
	floatStep := metricRow(1, "n", "1.5", 0)
	cases := []struct {
		name       string
		id         any
		payload    any
		wantStatus int
		wantDetail string
	}{
		{"2341 rows", sub, rows(2341, 0), 400, "The maximum number of elements has been exceeded. Maximum is 2341, received 2341"},
		{"5000 rows", sub, rows(5000, 0), 400, "The maximum number of elements has been exceeded. Maximum is 2341, received 5000"},
		{"row of 13", sub, [][]any{metricRow(1, "n", 0, 0), short}, 400, "Every iterable in `data` must match the length of `expected_types`."},
		{"row of 15", sub, [][]any{append(metricRow(1, "n", 0, 0), 1)}, 400, "Every iterable in `data` must match the length of `expected_types`."},
		{"map payload", sub, map[string]any{"a": 1}, 400, "Decoded data must be a list."},
		{"int payload", sub, 7, 400, "Decoded data must be a list."},
		{"string payload", sub, "rows", 400, "Decoded data must be a list."},
		{"non-sequence element", sub, []any{metricRow(1, "n", 0, 0), 5}, 400, "All elements of the inner data must be a Sequence"},
		{"sequence check before length", sub, []any{short, "x"}, 400, "All elements of the inner data must be a Sequence"},
		{"cast failure step batch", sub, [][]any{badStep}, 500, ""},
		{"cast failure null value", sub, [][]any{nullValue}, 500, ""},
		{"cast failure float string", sub, [][]any{floatStep}, 500, ""},
		{"undecodable", sub, []byte{0xc1}, 500, ""},
		{"truncated", sub, []byte{0x92, 0x01}, 500, ""},
		{"extra data", sub, []byte{0x90, 0x90}, 500, ""},
		{"empty body", sub, []byte{}, 500, ""},
		{"other cluster", other, rows(1, 0), 403, "Mismatch on attribute(s): client_id"},
		{"unknown", 31337, rows(1, 0), 404, "job_submissions entry was not found by locator=31337"},
		{"404 before payload checks", 31337, 7, 404, "job_submissions entry was not found by locator=31337"},
	}
	for _, tc := range cases {
		status, body := putMetrics(t, f, tc.id, tc.payload)
		expect(t, tc.name, status, body, tc.wantStatus, tc.wantDetail)
	}
	if n := len(f.s.Metrics(sub)); n != 0 {
		t.Fatalf("refused uploads stored %d rows", n)
	}
	// 2340 rows is the real limit and passes.
	status, body := putMetrics(t, f, sub, rows(2340, 0))
	expect(t, "2340 rows", status, body, 204, "")
	if n := len(f.s.Metrics(sub)); n != 2340 {
		t.Fatalf("stored %d rows, want 2340", n)
	}
	// An empty list is a valid (empty) upload.
	status, body = putMetrics(t, f, sub, []any{})
	expect(t, "empty list", status, body, 204, "")
}

func TestMetricsDuplicateKeys(t *testing.T) {
	f := newFixture(t)
	sub := f.addSub(StatusSubmitted)
	sub2 := f.addSub(StatusSubmitted)
	status, body := putMetrics(t, f, sub, [][]any{metricRow(10, "n1", 0, 0), metricRow(10, "n1", 0, 0)})
	expect(t, "duplicate in batch", status, body, 400, "Failed to insert metrics")
	if n := len(f.s.Metrics(sub)); n != 0 {
		t.Fatalf("batch with duplicate stored %d rows", n)
	}
	status, body = putMetrics(t, f, sub, [][]any{metricRow(10, "n1", 0, 0), metricRow(10, "n1", 0, 1)})
	expect(t, "distinct task", status, body, 204, "")
	// Against stored rows; the whole batch is rejected, including its new row.
	status, body = putMetrics(t, f, sub, [][]any{metricRow(11, "n1", 0, 0), metricRow(10, "n1", "0", "1")})
	expect(t, "duplicate of stored", status, body, 400, "Failed to insert metrics")
	if n := len(f.s.Metrics(sub)); n != 2 {
		t.Fatalf("stored %d rows, want 2", n)
	}
	// The key includes the submission.
	status, body = putMetrics(t, f, sub2, [][]any{metricRow(10, "n1", 0, 0)})
	expect(t, "same key other submission", status, body, 204, "")
}

func TestPythonCasts(t *testing.T) {
	ints := []struct {
		in   any
		want int64
		ok   bool
	}{
		{int8(-5), -5, true}, {uint64(7), 7, true}, {true, 1, true}, {3.9, 3, true}, {-3.9, -3, true},
		{" 12 ", 12, true}, {"-5", -5, true}, {"+4", 4, true}, {"1_000", 1000, true}, {[]byte("8"), 8, true},
		{"batch", 0, false}, {"1.5", 0, false}, {"", 0, false}, {"1__0", 0, false}, {"_1", 0, false},
		{"--1", 0, false}, {nil, 0, false}, {math.NaN(), 0, false}, {math.Inf(1), 0, false}, {[]any{1}, 0, false},
		{uint64(math.MaxUint64), 0, false},
	}
	for _, tc := range ints {
		got, err := pyInt(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("pyInt(%#v) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	floats := []struct {
		in   any
		want float64
		ok   bool
	}{
		{int64(3), 3, true}, {float32(1.5), 1.5, true}, {false, 0, true}, {" 2.5 ", 2.5, true}, {"1e3", 1000, true},
		{"inf", math.Inf(1), true}, {"-Infinity", math.Inf(-1), true}, {"1_0.5", 10.5, true},
		{"0x10", 0, false}, {"abc", 0, false}, {nil, 0, false}, {map[string]any{}, 0, false},
	}
	for _, tc := range floats {
		got, err := pyFloat(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("pyFloat(%#v) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if f, err := pyFloat("nan"); err != nil || !math.IsNaN(f) {
		t.Errorf("pyFloat(nan) = %v, %v", f, err)
	}
	strs := []struct {
		in   any
		want string
	}{
		{"node1", "node1"}, {int64(5), "5"}, {1.0, "1.0"}, {1e16, "1e+16"}, {0.5, "0.5"}, {1.5e-05, "1.5e-05"},
		{true, "True"}, {nil, "None"}, {math.Inf(-1), "-inf"},
	}
	for _, tc := range strs {
		if got := pyStr(tc.in); got != tc.want {
			t.Errorf("pyStr(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
