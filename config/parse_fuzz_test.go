package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sampleDotenv is a .env file the way sites write them (the reference's snap .env and the
// deploy examples): comments, export, both quote styles, an inline comment.
const sampleDotenv = "\ufeff# Jobbergate agent\n" +
	"JOBBERGATE_AGENT_BASE_API_URL=https://apis.example.org\n" +
	"export JOBBERGATE_AGENT_OIDC_DOMAIN=auth.example.org/realms/hpc\n" +
	"JOBBERGATE_AGENT_OIDC_CLIENT_ID='cluster-a'\n" +
	"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=\"s3cr3t \\\"quoted\\\"\"\n" +
	"JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS=30 # seconds\n" +
	"JOBBERGATE_AGENT_ROLES=bridge,submit\r\n\n" +
	"JOBBERGATE_AGENT_X_SLURM_USER_NAME = ubuntu\n"

// FuzzParseDotenv reads any file as a .env: it returns an error or a map whose keys are
// non-empty and hold no blank or quote.
func FuzzParseDotenv(f *testing.F) {
	for _, s := range []string{sampleDotenv, "A=\"unterminated\n", "A='x' trailing\n", "=x\n", "novalue\n",
		"A=\"\\\\n\"\n", "A=\"a\" # c\n", "export\n", strings.Repeat("x", 70000) + "=1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		kv, err := ParseDotenv(strings.NewReader(string(data)))
		if err != nil {
			if kv != nil {
				t.Fatal("values returned with an error")
			}
			return
		}
		for k := range kv {
			if k == "" || strings.ContainsAny(k, " \t\"'") || k != strings.TrimSpace(k) {
				t.Fatalf("key %q accepted", k)
			}
		}
	})
}

// dotenvQuote writes v as a double-quoted .env value.
func dotenvQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}

// FuzzDotenvRoundTrip writes one KEY=value line, double-quoted with escapes or single-quoted,
// and reads back exactly the value.
func FuzzDotenvRoundTrip(f *testing.F) {
	f.Add("JOBBERGATE_AGENT_OIDC_CLIENT_SECRET", `s3cr3t "quoted" \n # not a comment`, false)
	f.Add("A", "", true)
	f.Add("B_2", "tab\there\r\nnext\\", false)
	f.Fuzz(func(t *testing.T, key, value string, single bool) {
		if key == "" || len(value) > 256<<10 {
			return
		}
		for i, c := range []byte(key) {
			if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
				return
			}
		}
		line := key + "=" + dotenvQuote(value)
		if single {
			if strings.ContainsAny(value, "'\n") {
				return
			}
			line = key + "='" + value + "'"
		}
		kv, err := ParseDotenv(strings.NewReader("# header\n" + line + "\n"))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if len(kv) != 1 || kv[key] != value {
			t.Fatalf("%q read as %q, want %s=%q", line, kv, key, value)
		}
	})
}

// FuzzParseBool accepts exactly the pydantic words, in any case and surrounding space.
func FuzzParseBool(f *testing.F) {
	for _, s := range []string{"true", "False", " yes ", "ON", "0", "1", "t", "n", "", "2", "truthy", "\ttrue\n"} {
		f.Add(s)
	}
	truthy := map[string]bool{"1": true, "true": true, "t": true, "yes": true, "y": true, "on": true,
		"0": false, "false": false, "f": false, "no": false, "n": false, "off": false}
	f.Fuzz(func(t *testing.T, raw string) {
		b, err := ParseBool(raw)
		want, known := truthy[strings.ToLower(strings.TrimSpace(raw))]
		if (err == nil) != known || b != want {
			t.Fatalf("ParseBool(%q) = %v, %v", raw, b, err)
		}
		if again, err := ParseBool(strconv.FormatBool(b)); err != nil || again != b {
			t.Fatalf("ParseBool does not read %v back", b)
		}
	})
}

// FuzzParseDuration accepts a Go duration or whole seconds. Whole seconds read as exactly that
// many seconds (never a wrapped-around value); other accepted input is what time.ParseDuration
// reads.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15", "15s", "2m", " 60 ", "-1", "1.5", "", "1h2m3.5s", "9223372036854775807",
		"9223372037", "-9223372037", "99999999999999999999", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := ParseDuration(raw)
		if err != nil {
			return
		}
		trimmed := strings.TrimSpace(raw)
		if n, err := strconv.Atoi(trimmed); err == nil {
			if d%time.Second != 0 || int64(d/time.Second) != int64(n) {
				t.Fatalf("ParseDuration(%q) = %v, want %d seconds", raw, d, n)
			}
			return
		}
		if want, err := time.ParseDuration(trimmed); err != nil || want != d {
			t.Fatalf("ParseDuration(%q) = %v, time.ParseDuration gives %v, %v", raw, d, want, err)
		}
	})
}

// secretMarker is the value given to every secret setting in FuzzLoad.
const secretMarker = "fuzz-SECRET-7f3a9c2e41"

// FuzzLoad runs Load with a fuzzed .env file and fuzzed environment (one KEY=VALUE per line;
// lines without the prefix get it). Load never panics: it returns settings or Problems, one
// non-empty line each, naming a variable or the .env file; and the secrets (set last, so they
// win) never appear in a problem, a warning or in Describe. Each unknown variable is warned
// about once, with a suggestion that is a known setting.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(sampleDotenv), "OIDC_CLIENT_ID=cluster-a\nTASK_JOBS_INTERVAL_SECONDS=5\nLDAP_TIMEOUT=9223372037")
	f.Add([]byte("JOBBERGATE_AGENT_SLURM_USER_MAPPER=ldap-cached-mapper\n"), "LDAP_PORT=0\nINFLUX_DSN=influxdb://u:p@h:8086/db\nNATS_URL=nats://a, bogus")
	f.Add([]byte("bad line\n"), "ROLES=\nREQUESTS_TIMEOUT=none\nBRIDGE_POLL_INTERVAL=1e3\nUNKNOWN_THING=1")
	f.Add([]byte(""), "jobbergate_agent_roles=submit\nNATS_USER=a\nSENTRY_SAMPLE_RATE=NaN")
	dir, err := os.MkdirTemp("", "fuzzload")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	dotenv := filepath.Join(dir, ".env")
	secrets := []string{"OIDC_CLIENT_SECRET", "LDAP_PASSWORD", "NATS_PASSWORD", "NATS_TOKEN", "INFLUX_FLUX_TOKEN"}
	f.Fuzz(func(t *testing.T, file []byte, env string) {
		if err := os.WriteFile(dotenv, file, 0o600); err != nil {
			t.Fatal(err)
		}
		var environ []string
		for _, l := range strings.Split(env, "\n") {
			if !strings.HasPrefix(strings.ToUpper(l), Prefix) {
				l = Prefix + l
			}
			environ = append(environ, l)
		}
		for _, s := range secrets {
			environ = append(environ, Prefix+s+"="+secretMarker)
		}
		seen := map[string]bool{}
		s, err := Load(Source{Environ: environ, Dotenv: dotenv, Home: dir, Warn: func(w Warning) {
			name := strings.ToUpper(w.Key)
			if seen[name] || !strings.HasPrefix(name, Prefix) {
				t.Fatalf("warning %+v: repeated or not a setting's variable", w)
			}
			seen[name] = true
			if strings.Contains(w.String(), secretMarker) && !strings.Contains(w.Key, secretMarker) {
				t.Fatalf("a secret appears in a warning: %s", w)
			}
			if w.Suggestion != "" && !slices.Contains(knownNames(), strings.TrimPrefix(w.Suggestion, Prefix)) {
				t.Fatalf("warning %+v suggests no setting", w)
			}
		}})
		if s == nil {
			t.Fatalf("Load returned no settings (err %v)", err)
		}
		if err != nil {
			var p Problems
			if !errors.As(err, &p) || len(p) == 0 {
				t.Fatalf("Load error %T is not Problems: %v", err, err)
			}
			for _, line := range p {
				if !strings.HasPrefix(line, Prefix) && !strings.HasPrefix(line, dotenv+":") {
					t.Fatalf("problem %q names neither a variable nor the .env file", line)
				}
			}
			if strings.Contains(err.Error(), secretMarker) && !strings.Contains(string(file)+env, secretMarker) {
				t.Fatalf("a secret appears in the problems:\n%v", err)
			}
		}
		if s.OIDCClientSecret != secretMarker || s.LDAPPassword != secretMarker {
			t.Fatalf("the environment's last value did not win: %q", s.OIDCClientSecret)
		}
		for _, e := range Describe(s) {
			if strings.Contains(e.Value, secretMarker) {
				t.Fatalf("Describe prints a secret in %s=%q", e.Name, e.Value)
			}
		}
	})
}
