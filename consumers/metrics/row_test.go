package metrics

import (
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// The rows package influx aggregates go to the API converted field by field (the compiler checks
// the fields): their values must name the same measurements in the same order, because a row's
// values are positional on the wire.
func TestInfluxRowsAreAPIRows(t *testing.T) {
	if influx.Measurements != jobbergate.Measurements {
		t.Fatalf("influx.Measurements %v, jobbergate.Measurements %v: the values would land in the wrong columns",
			influx.Measurements, jobbergate.Measurements)
	}
}
