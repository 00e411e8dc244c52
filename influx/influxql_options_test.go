package influx_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
)

// fakeInflux answers /query like InfluxDB 1.x (an empty chunked answer) and records requests.
type fakeInflux struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (f *fakeInflux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Influxdb-Version", "fake")
	_, _ = w.Write([]byte(`{"results":[{"statement_id":0}]}` + "\n"))
}

func (f *fakeInflux) last(t *testing.T) *http.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return f.reqs[len(f.reqs)-1]
}

func runQuery(src influx.Source) error {
	st, err := src.Query(context.Background(), "42", 1, 1000)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		if _, err := st.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// TestInfluxQLRequest: the DSN's user, password and database reach the server as basic auth
// and db; the query carries epoch=s and the job (string) and time (ns) as bind parameters.
func TestInfluxQLRequest(t *testing.T) {
	fake := &fakeInflux{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	src, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: "influxdb://agent:s3cr%40t@" + srv.Listener.Addr().String() + "/slurm"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := runQuery(src); err != nil {
		t.Fatal(err)
	}
	r := fake.last(t)
	user, pass, ok := r.BasicAuth()
	if !ok || user != "agent" || pass != "s3cr@t" {
		t.Fatalf("basic auth %q %q %v", user, pass, ok)
	}
	if r.Form.Get("db") != "slurm" || r.Form.Get("epoch") != "s" || r.Form.Get("chunked") != "true" {
		t.Fatalf("form %v", r.Form)
	}
	var params map[string]any
	if err := json.Unmarshal([]byte(r.Form.Get("params")), &params); err != nil {
		t.Fatal(err)
	}
	if params["job"] != "42" || params["after"] != float64(1000e9) {
		t.Fatalf("params %v", params)
	}
	if q := r.Form.Get("q"); strings.Contains(q, "42") || !strings.Contains(q, "$job") || !strings.Contains(q, "time > $after") {
		t.Fatalf("query text %q must use bind parameters", q)
	}
}

// TestInfluxQLTLS follows the reference's rules: INFLUX_CERT_PATH is used as CA bundle when
// INFLUX_VERIFY_SSL is set; without INFLUX_VERIFY_SSL the certificate is not checked; and
// (our change to quirk 6) https+influxdb implies TLS.
func TestInfluxQLTLS(t *testing.T) {
	fake := &fakeInflux{}
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := srv.Listener.Addr().String()
	tests := []struct {
		name string
		opts influx.InfluxQLOptions
		ok   bool
	}{
		{"ssl with CA bundle", influx.InfluxQLOptions{DSN: "influxdb://" + addr + "/db", SSL: true, VerifySSL: true, CertPath: ca}, true},
		{"https+influxdb implies TLS", influx.InfluxQLOptions{DSN: "https+influxdb://" + addr + "/db", VerifySSL: true, CertPath: ca}, true},
		{"verify against system roots fails", influx.InfluxQLOptions{DSN: "https+influxdb://" + addr + "/db", VerifySSL: true}, false},
		{"no verification", influx.InfluxQLOptions{DSN: "https+influxdb://" + addr + "/db", SSL: true}, true},
		{"cert path without verify is not checked", influx.InfluxQLOptions{DSN: "https+influxdb://" + addr + "/db", CertPath: "/nonexistent"}, true},
		{"plain http to a TLS server fails", influx.InfluxQLOptions{DSN: "influxdb://" + addr + "/db"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := influx.NewInfluxQL(tt.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = runQuery(src)
			if (err == nil) != tt.ok {
				t.Fatalf("query err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestInfluxQLOptionsInvalid: bad DSNs are refused with ErrInvalidDSN, without the password.
func TestInfluxQLOptionsInvalid(t *testing.T) {
	tests := []struct {
		dsn  string
		want error
	}{
		{"https://u:pw-secret@h:8086/db", influx.ErrInvalidDSN},
		{"http+influxdb://u:pw-secret@h/db", influx.ErrInvalidDSN},
		{"ftp://h/db", influx.ErrInvalidDSN},
		{"smtp://h/db", influx.ErrInvalidDSN},
		{"file:///db", influx.ErrInvalidDSN},
		{"influxdb://u:pw-secret@h:8086", influx.ErrInvalidDSN},
		{"influxdb://u:pw-secret@h:8086/db\x7f", influx.ErrInvalidDSN},
		{"influxdb://u:pw-secret@[::1/db", influx.ErrInvalidDSN},
	}
	for _, tt := range tests {
		_, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: tt.dsn}, nil)
		if !errors.Is(err, tt.want) {
			t.Errorf("DSN %q: err %v, want %v", tt.dsn, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("DSN %q: password in error %q", tt.dsn, err)
		}
	}
	for _, dsn := range []string{"influxdb://h/db", "udp+influxdb://h:4444/db", "https+influxdb://u:p@h/db", "influxdb://[::1]:8086/db"} {
		if _, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: dsn}, nil); err != nil {
			t.Errorf("DSN %q refused: %v", dsn, err)
		}
	}
	_, err := influx.NewInfluxQL(influx.InfluxQLOptions{DSN: "influxdb://h/db", SSL: true, VerifySSL: true, CertPath: "/nonexistent/ca.pem"}, nil)
	if !errors.Is(err, influx.ErrInvalidOptions) {
		t.Errorf("missing CA bundle: %v", err)
	}
}
