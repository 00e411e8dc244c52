package metrics

import (
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/influx/influxtest"
)

func newInfluxQL(t *testing.T, db *influxtest.DB) *influx.InfluxQL {
	t.Helper()
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: db.DSN(), Timeout: 30 * time.Second, ChunkSize: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func newFlux(t *testing.T, base string, db *influxtest.DB) *influx.Flux {
	t.Helper()
	src, err := influx.NewFlux(influx.FluxOptions{URL: base, Token: ":", Bucket: db.Name + "/autogen",
		Timeout: 30 * time.Second, BatchSize: 500}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}
