package metrics

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// requireInfluxV1 returns the URL of the InfluxQL server (Debian 1.6.7).
func requireInfluxV1(t testing.TB) string {
	t.Helper()
	u := influxEnv()["INFLUX_TEST_V1_URL"]
	testenv.Require(t, "influxdb", pingOK(u), "no InfluxDB answers at INFLUX_TEST_V1_URL="+u+": "+servicesHow)
	return u
}

// requireInfluxFlux returns the URL of the Flux server (1.8.10).
func requireInfluxFlux(t testing.TB) string {
	t.Helper()
	u := influxEnv()["INFLUX_TEST_FLUX_URL"]
	testenv.Require(t, "influxdb 1.8 with Flux", pingOK(u), "no InfluxDB 1.8 answers at INFLUX_TEST_FLUX_URL="+u+": "+servicesHow)
	return u
}

// influxDB is a fresh database on a real server, dropped at the end of the test.
type influxDB struct {
	t    *testing.T
	base string
	name string
}

func newInfluxDB(t *testing.T, base string) *influxDB {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := &influxDB{t: t, base: base, name: "t_" + hex.EncodeToString(b)}
	influxQuery(t, base, "CREATE DATABASE "+db.name)
	t.Cleanup(func() { influxQuery(t, base, "DROP DATABASE "+db.name) })
	return db
}

// write sends line protocol with second precision, as the Slurm plugin does.
func (db *influxDB) write(lines []string) {
	db.t.Helper()
	const batch = 5000
	for len(lines) > 0 {
		n := min(batch, len(lines))
		body := strings.Join(lines[:n], "\n")
		lines = lines[n:]
		resp, err := http.Post(db.base+"/write?db="+db.name+"&precision=s", "text/plain", strings.NewReader(body))
		if err != nil {
			db.t.Fatalf("influx write: %v", err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			db.t.Fatalf("influx write: %d %s", resp.StatusCode, msg)
		}
	}
}

// dsn is the reference agent's INFLUX_DSN for this database.
func (db *influxDB) dsn() string {
	return "influxdb://" + strings.TrimPrefix(db.base, "http://") + "/" + db.name
}

// line is one sample as the plugin writes it.
func line(measurement, job, step, task, host string, value float64, t int64) string {
	return fmt.Sprintf("%s,job=%s,step=%s,task=%s,host=%s value=%v %d", measurement, job, step, task, host, value, t)
}

func newInfluxQL(t *testing.T, db *influxDB) *influx.InfluxQL {
	t.Helper()
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: db.dsn(), Timeout: 30 * time.Second, ChunkSize: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func newFlux(t *testing.T, base string, db *influxDB) *influx.Flux {
	t.Helper()
	src, err := influx.NewFlux(influx.FluxOptions{URL: base, Token: ":", Bucket: db.name + "/autogen",
		Timeout: 30 * time.Second, BatchSize: 500}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}
