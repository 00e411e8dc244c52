package jobbergate

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Seeds shaped like the API's answers (agent-spec 13.2, 13.3, 13.7): the fields the agent reads
// plus the ones it ignores, with nulls where the API sends them.
const (
	seedPendingPage = `{"items":[{"id":1,"name":"hello-1","owner_email":"alice@example.com",` +
		`"execution_directory":"/tmp/jobbergate/hello-1","execution_parameters":{},` +
		`"sbatch_arguments":["--time=00:05:00"],"job_script":{"id":1,"name":"hello",` +
		`"owner_email":"alice@example.com","created_at":"2024-05-01T10:00:00","updated_at":"2024-05-01T10:00:00",` +
		`"is_archived":false,"description":null,"parent_template_id":null,"cloned_from_id":null,` +
		`"files":[{"parent_id":1,"filename":"job.sh","file_type":"ENTRYPOINT","created_at":"2024-05-01T10:00:00",` +
		`"updated_at":"2024-05-01T10:00:00"},{"parent_id":1,"filename":"input/params.txt","file_type":"SUPPORT",` +
		`"created_at":"2024-05-01T10:00:00","updated_at":"2024-05-01T10:00:00"}]}},` +
		`{"id":2,"name":"hello-2","owner_email":"alice@example.com","execution_parameters":{},` +
		`"job_script":{"id":1,"name":"hello","files":[]}}],"total":2,"page":1,"size":100,"pages":1}`
	seedActivePage = `{"items":[{"id":1,"name":"hello-1","status":"SUBMITTED","slurm_job_id":4},` +
		`{"id":2,"name":"hello-2","status":"CANCELLED","slurm_job_id":null},` +
		`{"id":3,"name":"x","status":null}],"total":3,"page":1,"size":100,"pages":1}`
	seedEmptyPage = `{"items":[],"total":0,"page":1,"size":100,"pages":0}`
	seedMaxTimes  = `{"job_submission_id":7,"max_times":[{"max_time":1714557600,"node_host":"vm","step":0,"task":0},` +
		`{"max_time":1714557610,"node_host":"vm","step":-5,"task":0}]}`
)

// FuzzPendingPage decodes a pending-submissions page. A page that decodes keeps the decoder's
// guarantees (non-nil lists, valid file types) and survives a marshal/unmarshal round trip
// unchanged, which is what the bridge relies on when it forwards items as message payloads.
func FuzzPendingPage(f *testing.F) {
	for _, s := range []string{seedPendingPage, seedEmptyPage,
		`{"items":[{"id":1,"name":"n","owner_email":"e","sbatch_arguments":null,"job_script":{}}],"total":1,"page":1,"size":1,"pages":1}`,
		`{"items":[{"id":1,"name":"n","owner_email":"e","job_script":{"files":[{"parent_id":1,"filename":"../../etc/passwd","file_type":"ENTRYPOINT"}]}}],"total":1,"page":1,"size":1,"pages":1}`,
		`{"items":null,"total":0,"page":1,"size":100,"pages":0}`, `[]`, `null`, `{"items":[1e999]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Page[PendingSubmission]
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		if p.Items == nil {
			t.Fatal("decoded page has nil items")
		}
		if p.Last() != (p.Page >= p.Pages) {
			t.Fatalf("Last() = %v for page %d of %d", p.Last(), p.Page, p.Pages)
		}
		for _, it := range p.Items {
			if it.SbatchArguments == nil || it.JobScript.Files == nil {
				t.Fatalf("item %d: nil list after decoding: %#v", it.ID, it)
			}
			for _, fl := range it.JobScript.Files {
				if fl.FileType != FileTypeEntrypoint && fl.FileType != FileTypeSupport {
					t.Fatalf("item %d: file type %q accepted", it.ID, fl.FileType)
				}
			}
		}
		roundTrip(t, p)
	})
}

// FuzzActivePage decodes an active-submissions page; see FuzzPendingPage.
func FuzzActivePage(f *testing.F) {
	for _, s := range []string{seedActivePage, seedEmptyPage,
		`{"items":[{"status":"SUBMITTED"}],"total":1,"page":1,"size":100,"pages":1}`,
		`{"items":[{"id":1,"slurm_job_id":99999999999999999999}],"total":1,"page":1,"size":100,"pages":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Page[ActiveSubmission]
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		if p.Items == nil {
			t.Fatal("decoded page has nil items")
		}
		roundTrip(t, p)
	})
}

// FuzzMetricsMaxTimes decodes the answer of GET .../agent/metrics/{id}.
func FuzzMetricsMaxTimes(f *testing.F) {
	for _, s := range []string{seedMaxTimes, `{"job_submission_id":7,"max_times":[]}`,
		`{"job_submission_id":7,"max_times":null}`, `{"job_submission_id":7,"max_times":[{"max_time":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m MetricsMaxTimes
		if err := json.Unmarshal(data, &m); err != nil {
			return
		}
		if m.MaxTimes == nil {
			t.Fatal("decoded max times has a nil list")
		}
		roundTrip(t, m)
	})
}

// roundTrip checks that v marshals and decodes back to an equal value.
func roundTrip[T any](t *testing.T, v T) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal a decoded value: %v", err)
	}
	var again T
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatalf("decode own output %s: %v", b, err)
	}
	if !reflect.DeepEqual(v, again) {
		t.Fatalf("round trip changed the value:\n before %#v\n after  %#v", v, again)
	}
}

// FuzzParseVersion checks the version rule used by self-update on any pair of strings: an
// accepted version prints back to the same numbers, and NeedUpdate agrees with the rule.
func FuzzParseVersion(f *testing.F) {
	for _, s := range [][2]string{{"5.11.0", "5.11.1"}, {"5.4.0", "5.11.0"}, {"4.0.0", "5.0.0"},
		{"5.11", "5.11.0"}, {"v5.11.0", "5.11.0"}, {"5.11.0rc1", "5.11.0"}, {"99999999999999999999.0.0", "1.0.0"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, current, upstream string) {
		c, errC := parseVersion(current)
		u, errU := parseVersion(upstream)
		need, err := NeedUpdate(current, upstream)
		if (err == nil) != (errC == nil && errU == nil) {
			t.Fatalf("NeedUpdate error %v, parse errors %v, %v", err, errC, errU)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("error %v does not wrap ErrInvalidVersion", err)
			}
			return
		}
		newer := u[0] > c[0] || u[0] == c[0] && (u[1] > c[1] || u[1] == c[1] && u[2] > c[2])
		if want := c[0] == u[0] && newer; need != want {
			t.Fatalf("NeedUpdate(%q, %q) = %v, want %v", current, upstream, need, want)
		}
		for _, v := range [][3]int{c, u} {
			if v[0] < 0 || v[1] < 0 || v[2] < 0 {
				t.Fatalf("negative version part %v", v)
			}
			again, err := parseVersion(fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]))
			if err != nil || again != v {
				t.Fatalf("version %v does not print back: %v, %v", v, again, err)
			}
		}
	})
}

// FuzzMetricRowsDecode decodes an arbitrary metrics upload body. Whatever decodes encodes again
// and decodes to the same rows (floats compared bit for bit, so NaN payloads count).
func FuzzMetricRowsDecode(f *testing.F) {
	rows := []MetricRow{
		{Time: 1714557600, Host: "vm", Step: -5, Task: 0, Values: [10]float64{2400000, 1.5, 99.5, 0, 0, 12, 2048, 0.25, 4096, 0.5}},
		{Time: 1714557610, Host: "node-001", Step: 0, Task: 3, Values: [10]float64{math.MaxFloat64, -1}},
	}
	for _, rs := range [][]MetricRow{rows, {}, rows[:1]} {
		b, err := EncodeMetricRows(rs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// A row with integer values (what a Python client writes for whole numbers) and a short row.
	ints, _ := msgpack.Marshal([][]any{{1714557600, "vm", 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}})
	short, _ := msgpack.Marshal([][]any{{1714557600, "vm", 0}})
	f.Add(ints)
	f.Add(short)
	f.Add([]byte{0xdd, 0x00, 0x0f, 0x42, 0x40}) // array32 claiming 1e6 rows, no content
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeMetricRows(data)
		if err != nil {
			return
		}
		if max := len(data) / (1 + metricRowLen); len(got) > max {
			t.Fatalf("%d rows from %d bytes (at most %d fit)", len(got), len(data), max)
		}
		b, err := EncodeMetricRows(got)
		if err != nil {
			t.Fatalf("encode decoded rows: %v", err)
		}
		again, err := DecodeMetricRows(b)
		if err != nil {
			t.Fatalf("decode own output: %v", err)
		}
		sameRows(t, got, again)
	})
}

// FuzzMetricRowRoundTrip encodes one row built from fuzzed fields and decodes it back.
func FuzzMetricRowRoundTrip(f *testing.F) {
	f.Add(int64(1714557600), "vm", -5, 0, 2400000.0, 1.5, 99.5, 12.0)
	f.Add(int64(-1), "", math.MinInt32, math.MaxInt32, math.Inf(1), math.NaN(), math.Copysign(0, -1), math.SmallestNonzeroFloat64)
	f.Fuzz(func(t *testing.T, tm int64, host string, step, task int, a, b, c, d float64) {
		row := MetricRow{Time: tm, Host: host, Step: step, Task: task, Values: [10]float64{a, b, c, d, a, b, c, d, a, b}}
		enc, err := EncodeMetricRows([]MetricRow{row})
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMetricRows(enc)
		if err != nil {
			t.Fatalf("decode own output: %v", err)
		}
		sameRows(t, []MetricRow{row}, got)
	})
}

func sameRows(t *testing.T, want, got []MetricRow) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d rows became %d", len(want), len(got))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Time != g.Time || w.Host != g.Host || w.Step != g.Step || w.Task != g.Task {
			t.Fatalf("row %d: %+v became %+v", i, w, g)
		}
		for j := range w.Values {
			if math.Float64bits(w.Values[j]) != math.Float64bits(g.Values[j]) {
				t.Fatalf("row %d %s: %v became %v", i, Measurements[j], w.Values[j], g.Values[j])
			}
		}
	}
}

// tokenErrors are the only messages tokenExpiry may return: none carries token material.
var tokenErrors = map[string]bool{}

func init() {
	for _, m := range []string{"not a JWT", "payload is not base64url", "payload is not a JSON object",
		"no exp claim", "exp claim is not a valid time"} {
		tokenErrors[ErrInvalidToken.Error()+": "+m] = true
	}
}

// keycloakPayload is the claim set of a Keycloak client-credentials access token.
const keycloakPayload = `{"exp":1714561200,"iat":1714557600,"jti":"0b8f4d4e-3c1a-4a7e-9d0c-5a3b2f1e0d9c",` +
	`"iss":"https://auth.example.org/realms/jobbergate-local","aud":"account","sub":"5f0c3b1e",` +
	`"typ":"Bearer","azp":"cluster-a","scope":"email profile","clientHost":"10.0.0.1",` +
	`"client_id":"cluster-a","permissions":["jobbergate:job-submissions:read"]}`

// FuzzTokenExpiry reads the exp claim of any string. An accepted token has an expiry within
// [0, 2^53] seconds; a refused one gets one of the fixed messages, so that no part of a token
// ever reaches a log line.
func FuzzTokenExpiry(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(enc([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." + enc([]byte(keycloakPayload)) + "." + enc([]byte("signature")))
	f.Add(fakeJWT(`{"exp": 1700000000.9}`))
	f.Add(fakeJWT(`{"exp": "1700000000"}`))
	f.Add(fakeJWT(`{"exp": 1e300}`))
	f.Add(fakeJWT(`{"exp": -1}`))
	f.Add(fakeJWT(`{}`))
	f.Add("a.b")
	f.Add("..")
	f.Add(fakeJWT(`{"exp": 1700000000}`) + "==")
	f.Fuzz(func(t *testing.T, token string) {
		exp, err := tokenExpiry(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) || !tokenErrors[err.Error()] {
				t.Fatalf("unexpected error message %q", err)
			}
			return
		}
		if s := exp.Unix(); s < 0 || s > 1<<53 {
			t.Fatalf("expiry %d out of range", s)
		}
	})
}

// FuzzTokenExpiryClaims builds a token around a known exp (and any other claim) and checks that
// exactly that time is read back.
func FuzzTokenExpiryClaims(f *testing.F) {
	f.Add(int64(1714561200), "cluster-a", false)
	f.Add(int64(0), "", true)
	f.Add(int64(1<<53), "\x00\"}", false)
	f.Fuzz(func(t *testing.T, exp int64, azp string, asFloat bool) {
		if exp < 0 || exp > 1<<53 || (asFloat && exp > 1<<40) {
			return // beyond 2^40 a fraction is lost to float64 rounding
		}
		num := strconv.FormatInt(exp, 10)
		if asFloat {
			num += ".75"
		}
		azpJSON, _ := json.Marshal(azp)
		tok := fakeJWT(`{"azp":` + string(azpJSON) + `,"exp":` + num + `}`)
		got, err := tokenExpiry(tok)
		if err != nil {
			t.Fatalf("token with exp %s: %v", num, err)
		}
		if !got.Equal(time.Unix(exp, 0)) {
			t.Fatalf("exp %s read as %d", num, got.Unix())
		}
	})
}
