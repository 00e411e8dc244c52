package jobbergate

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Measurements are the names of the InfluxDB measurements written by Slurm's profile plugin
// that the agent uploads, in ASCII order. MetricRow.Values follows this order, which is also
// the column order the API expects.
var Measurements = [10]string{
	"CPUFrequency", "CPUTime", "CPUUtilization", "GPUMemMB", "GPUUtilization",
	"Pages", "RSS", "ReadMB", "VMSize", "WriteMB",
}

// MeasurementIndex returns the position of a measurement name in Measurements.
func MeasurementIndex(name string) (int, bool) {
	for i, m := range Measurements {
		if m == name {
			return i, true
		}
	}
	return 0, false
}

// MaxMetricRowsPerRequest is the most rows one PutMetrics call may carry: the API refuses more
// than 32767 values (rows × 14) with 400. Callers split larger uploads.
const MaxMetricRowsPerRequest = 32767 / metricRowLen

const metricRowLen = 4 + len(Measurements)

// MetricRow is one aggregated sample of a job step's task on a host at a time (epoch seconds):
// the sum of each measurement's values, in the order of Measurements (0 when missing).
// On the wire it is a msgpack array of 14 items: time (int), host (str), step (int), task (int)
// and the 10 values (float64).
type MetricRow struct {
	Time   int64
	Host   string
	Step   int
	Task   int
	Values [10]float64
}

var (
	_ msgpack.CustomEncoder = (*MetricRow)(nil)
	_ msgpack.CustomDecoder = (*MetricRow)(nil)
)

// EncodeMsgpack writes the row as a 14-item msgpack array.
func (r *MetricRow) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeArrayLen(metricRowLen); err != nil {
		return err
	}
	if err := enc.EncodeInt(r.Time); err != nil {
		return err
	}
	if err := enc.EncodeString(r.Host); err != nil {
		return err
	}
	if err := enc.EncodeInt(int64(r.Step)); err != nil {
		return err
	}
	if err := enc.EncodeInt(int64(r.Task)); err != nil {
		return err
	}
	for _, v := range r.Values {
		if err := enc.EncodeFloat64(v); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack reads a row written by EncodeMsgpack (numbers of any msgpack numeric type).
func (r *MetricRow) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != metricRowLen {
		return fmt.Errorf("metric row has %d items, want %d", n, metricRowLen)
	}
	var row MetricRow
	if row.Time, err = dec.DecodeInt64(); err != nil {
		return fmt.Errorf("metric row time: %w", err)
	}
	if row.Host, err = dec.DecodeString(); err != nil {
		return fmt.Errorf("metric row host: %w", err)
	}
	if row.Step, err = dec.DecodeInt(); err != nil {
		return fmt.Errorf("metric row step: %w", err)
	}
	if row.Task, err = dec.DecodeInt(); err != nil {
		return fmt.Errorf("metric row task: %w", err)
	}
	for i := range row.Values {
		if row.Values[i], err = dec.DecodeFloat64(); err != nil {
			return fmt.Errorf("metric row %s: %w", Measurements[i], err)
		}
	}
	*r = row
	return nil
}

// EncodeMetricRows returns the body of a metrics upload: a msgpack array of 14-item arrays.
func EncodeMetricRows(rows []MetricRow) ([]byte, error) {
	if rows == nil {
		rows = []MetricRow{}
	}
	b, err := msgpack.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("encode metric rows: %w", err)
	}
	return b, nil
}

// minMetricRowBytes is the smallest msgpack encoding of a row: a fixarray header and 14
// one-byte items.
const minMetricRowBytes = 1 + metricRowLen

// DecodeMetricRows is the inverse of EncodeMetricRows. A nil array decodes as no rows. Memory is
// bounded by the input: an array header that claims more rows than the body can hold is refused
// before anything is allocated for them, and trailing bytes after the array are an error.
func DecodeMetricRows(b []byte) ([]MetricRow, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return nil, fmt.Errorf("decode metric rows: %w", err)
	}
	if n < 0 {
		return nil, nil
	}
	if n > len(b)/minMetricRowBytes {
		return nil, fmt.Errorf("decode metric rows: the array claims %d rows, the body holds at most %d", n, len(b)/minMetricRowBytes)
	}
	rows := make([]MetricRow, n)
	for i := range rows {
		if err := rows[i].DecodeMsgpack(dec); err != nil {
			return nil, fmt.Errorf("decode metric rows: row %d: %w", i, err)
		}
	}
	if _, err := dec.PeekCode(); err == nil {
		return nil, fmt.Errorf("decode metric rows: unexpected data after %d rows", n)
	}
	return rows, nil
}

// UnmarshalJSON decodes and validates a max time entry: every field is required.
func (m *MetricsMaxTime) UnmarshalJSON(b []byte) error {
	var raw struct {
		MaxTime  *int64  `json:"max_time"`
		NodeHost *string `json:"node_host"`
		Step     *int    `json:"step"`
		Task     *int    `json:"task"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.MaxTime == nil:
		return validationErr("max_time", "field required")
	case raw.NodeHost == nil:
		return validationErr("node_host", "field required")
	case raw.Step == nil:
		return validationErr("step", "field required")
	case raw.Task == nil:
		return validationErr("task", "field required")
	}
	*m = MetricsMaxTime{MaxTime: *raw.MaxTime, NodeHost: *raw.NodeHost, Step: *raw.Step, Task: *raw.Task}
	return nil
}

// UnmarshalJSON decodes and validates the max times answer: job_submission_id and a non-null
// max_times list are required.
func (m *MetricsMaxTimes) UnmarshalJSON(b []byte) error {
	var raw struct {
		JobSubmissionID *int            `json:"job_submission_id"`
		MaxTimes        json.RawMessage `json:"max_times"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.JobSubmissionID == nil:
		return validationErr("job_submission_id", "field required")
	case raw.MaxTimes == nil || isNull(raw.MaxTimes):
		return validationErr("max_times", "field required")
	}
	times := []MetricsMaxTime{}
	if err := json.Unmarshal(raw.MaxTimes, &times); err != nil {
		return fieldErr("max_times", err)
	}
	*m = MetricsMaxTimes{JobSubmissionID: *raw.JobSubmissionID, MaxTimes: times}
	return nil
}
