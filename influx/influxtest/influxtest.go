// Package influxtest gives tests the real InfluxDB servers deploy/influxdb/influxdb.sh starts
// (1.6.7 for InfluxQL, 1.8.10 for Flux) and a fresh database on them, dropped when the test
// ends. It is the one place the influx and consumers/metrics tests reach InfluxDB from.
package influxtest

import (
	"bufio"
	"cmp"
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

// EnvFile is where deploy/influxdb/influxdb.sh writes the servers' URLs
// (JOBBERGATE_TEST_INFLUX_ENV overrides it).
const EnvFile = "/var/lib/jobbergate-agent-test/influxdb/env"

// How says how to start the servers.
const How = "run `bash deploy/influxdb/influxdb.sh start` as root (INFLUX_FLUX=1 for the Flux server), or `bash deploy/test-services.sh`"

// Env reads the servers' env file (INFLUX_TEST_V1_URL, INFLUX_TEST_FLUX_URL...); empty when
// there is none.
func Env() map[string]string {
	env := map[string]string{}
	f, err := os.Open(cmp.Or(os.Getenv("JOBBERGATE_TEST_INFLUX_ENV"), EnvFile))
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

// Ping reports whether an InfluxDB answers /ping at base.
func Ping(base string) bool {
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

// RequireV1 returns the URL of the InfluxQL server (1.6.7), or skips (fails under CI) without it.
func RequireV1(t testing.TB) string {
	t.Helper()
	u := Env()["INFLUX_TEST_V1_URL"]
	testenv.Require(t, "influxdb", Ping(u), "no InfluxDB answers at INFLUX_TEST_V1_URL="+u+": "+How)
	return u
}

// RequireFlux returns the URL of the Flux server (1.8.10), or skips (fails under CI) without it.
func RequireFlux(t testing.TB) string {
	t.Helper()
	u := Env()["INFLUX_TEST_FLUX_URL"]
	testenv.Require(t, "influxdb 1.8 with Flux", Ping(u), "no InfluxDB 1.8 answers at INFLUX_TEST_FLUX_URL="+u+": "+How)
	return u
}

// DB is a fresh database on a real server, dropped at the end of the test.
type DB struct {
	t    testing.TB
	Base string // the server's URL
	Name string
}

// NewDB creates a database with a random name on the server at base.
func NewDB(t testing.TB, base string) *DB {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := &DB{t: t, Base: base, Name: "t_" + hex.EncodeToString(b)}
	db.Query("CREATE DATABASE " + db.Name)
	t.Cleanup(func() { db.Query("DROP DATABASE " + db.Name) })
	return db
}

// Query runs an InfluxQL statement and fails the test when the server reports an error.
func (db *DB) Query(q string) {
	db.t.Helper()
	resp, err := http.PostForm(db.Base+"/query", url.Values{"q": {q}})
	if err != nil {
		db.t.Fatalf("influx %q: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		db.t.Fatalf("influx %q: %d %s", q, resp.StatusCode, body)
	}
}

// Write sends line protocol with second precision, as the Slurm plugin does.
func (db *DB) Write(lines []string) {
	db.t.Helper()
	const batch = 5000
	for len(lines) > 0 {
		n := min(batch, len(lines))
		body := strings.Join(lines[:n], "\n")
		lines = lines[n:]
		resp, err := http.Post(db.Base+"/write?db="+db.Name+"&precision=s", "text/plain", strings.NewReader(body))
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

// DSN is the reference agent's INFLUX_DSN for this database.
func (db *DB) DSN() string {
	return "influxdb://" + strings.TrimPrefix(db.Base, "http://") + "/" + db.Name
}

// Line is one sample as the Slurm plugin writes it.
func Line(measurement, job, step, task, host string, value float64, t int64) string {
	return fmt.Sprintf("%s,job=%s,step=%s,task=%s,host=%s value=%v %d", measurement, job, step, task, host, value, t)
}
