package influx

import (
	"math"
	"strconv"
)

// Point is one raw sample as a backend reads it: the tags as strings, the value of the
// "value" field and the index of its measurement in Measurements.
type Point struct {
	// Time is the sample time in epoch seconds.
	Time int64
	// Host, Step and Task are the tag values, unparsed.
	Host, Step, Task string
	// Measurement indexes Measurements.
	Measurement int
	// Value is the "value" field.
	Value float64
}

// overflowLimit is 2^63-1 as a float64 (which rounds it to 2^63): the reference agent replaces
// values at or above it by 0 because the API stores some columns as 64-bit integers.
const overflowLimit = float64(math.MaxInt64)

// clampValue returns v, or 0 when v is at or above 2^63-1, is -Inf or is not a number.
func clampValue(v float64) float64 {
	if v >= overflowLimit || math.IsNaN(v) || math.IsInf(v, -1) {
		return 0
	}
	return v
}

// Slurm's special step ids (slurm.h, SLURM_*_CONT / SLURM_BATCH_SCRIPT ...) as the 22.05
// profile plugin prints them with %d, and the names older or other writers use.
var stepNames = map[string]int{
	"pending":     -3,
	"extern":      -4,
	"batch":       -5,
	"interactive": -6,
}

// ParseStep converts a step tag to Slurm's signed step id: a decimal number ("-5", "0", "12"),
// the unsigned 32-bit form of a special id ("4294967291" is -5), or one of the names "batch"
// (-5), "extern" (-4), "interactive" (-6), "pending" (-3). ok is false for anything else.
func ParseStep(tag string) (step int, ok bool) {
	if id, found := stepNames[tag]; found {
		return id, true
	}
	n, err := strconv.ParseInt(tag, 10, 64)
	if err != nil {
		return 0, false
	}
	if n > math.MaxInt32 && n <= math.MaxUint32 {
		n = int64(int32(uint32(n)))
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// ParseTask converts a task tag (a task rank, 0 and up) to an int. ok is false when the tag is
// not a non-negative decimal number that fits 32 bits.
func ParseTask(tag string) (task int, ok bool) {
	n, err := strconv.ParseInt(tag, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int(n), true
}
