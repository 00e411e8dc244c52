package influx_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

const defaultInfluxEnvFile = "/var/lib/jobbergate-agent-test/influxdb/env"

const influxHow = "run `bash deploy/influxdb/influxdb.sh start` as root (INFLUX_FLUX=1 for the Flux server)"

// influxEnv reads the env file deploy/influxdb/influxdb.sh writes
// (JOBBERGATE_TEST_INFLUX_ENV overrides its path).
func influxEnv() map[string]string {
	path := os.Getenv("JOBBERGATE_TEST_INFLUX_ENV")
	if path == "" {
		path = defaultInfluxEnvFile
	}
	env := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return env
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env
}

func pingOK(base string) bool {
	if base == "" {
		return false
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}

// requireInfluxV1 returns the URL of the InfluxQL server (Debian 1.6.7).
func requireInfluxV1(t testing.TB) string {
	t.Helper()
	u := influxEnv()["INFLUX_TEST_V1_URL"]
	testenv.Require(t, "influxdb", pingOK(u), "no InfluxDB answers at INFLUX_TEST_V1_URL="+u+": "+influxHow)
	return u
}

// requireInfluxFlux returns the URL of the Flux server (1.8.10 built from the module proxy).
func requireInfluxFlux(t testing.TB) string {
	t.Helper()
	u := influxEnv()["INFLUX_TEST_FLUX_URL"]
	testenv.Require(t, "influxdb 1.8 with Flux", pingOK(u), "no InfluxDB 1.8 answers at INFLUX_TEST_FLUX_URL="+u+": "+influxHow)
	return u
}

// influxDB is a fresh database on a real server, dropped at the end of the test.
type influxDB struct {
	t    testing.TB
	base string
	name string
}

func newInfluxDB(t testing.TB, base string) *influxDB {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := &influxDB{t: t, base: base, name: "t_" + hex.EncodeToString(b)}
	db.query("CREATE DATABASE " + db.name)
	t.Cleanup(func() { db.query("DROP DATABASE " + db.name) })
	return db
}

func (db *influxDB) query(q string) {
	db.t.Helper()
	resp, err := http.PostForm(db.base+"/query", url.Values{"q": {q}})
	if err != nil {
		db.t.Fatalf("influx %q: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		db.t.Fatalf("influx %q: %d %s", q, resp.StatusCode, body)
	}
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
