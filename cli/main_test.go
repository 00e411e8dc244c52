package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func run(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), append([]string{"--env-file", "none"}, args...), environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestConfigReportsEveryProblem(t *testing.T) {
	code, _, stderr := run(t, []string{
		"JOBBERGATE_AGENT_INFLUX_DSN=https://influx.example.org:8086/slurm",
		"JOBBERGATE_AGENT_SBATCH_PATH=sbatch",
	}, "config")
	if code == 0 {
		t.Fatalf("invalid settings must exit non-zero")
	}
	for _, want := range []string{
		"JOBBERGATE_AGENT_INFLUX_DSN: scheme \"https\" is not supported",
		"JOBBERGATE_AGENT_SBATCH_PATH: must be an absolute path",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr, "2 invalid setting(s)") {
		t.Errorf("stderr should count the problems:\n%s", stderr)
	}
}

func TestConfigPrintsMaskedSettings(t *testing.T) {
	code, stdout, stderr := run(t, []string{"JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=very-secret"}, "config")
	if code != 0 {
		t.Fatalf("valid settings must exit 0, got %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "very-secret") {
		t.Error("the client secret was printed")
	}
	for _, want := range []string{"JOBBERGATE_AGENT_SBATCH_PATH=/usr/bin/sbatch\n", "JOBBERGATE_AGENT_OIDC_CLIENT_SECRET=********\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	code, stdout, _ := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "jobbergate-agent ") {
		t.Errorf("version: code %d, output %q", code, stdout)
	}
	code, _, stderr := run(t, nil, "frobnicate")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d, stderr %q", code, stderr)
	}
}

// TestConfigMasksURLPasswords: the passwords in NATS_URL, NATS_LEAF_REMOTE and BASE_API_URL do
// not reach the terminal through `config` (text or JSON); the user names do.
func TestConfigMasksURLPasswords(t *testing.T) {
	env := []string{
		"JOBBERGATE_AGENT_NATS_URL=nats://agent:s3cret@host:4222",
		"JOBBERGATE_AGENT_NATS_LEAF_REMOTE=nats://leaf:l3af-pw@hub:7422",
		"JOBBERGATE_AGENT_NATS_DOMAIN=leaf",
		"JOBBERGATE_AGENT_BASE_API_URL=https://api:ap1-pw@api.example.org",
	}
	for _, args := range [][]string{{"config"}, {"config", "--json"}} {
		code, stdout, stderr := run(t, env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		for _, secret := range []string{"s3cret", "l3af-pw", "ap1-pw"} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("%v prints the password %q:\n%s", args, secret, stdout)
			}
		}
		for _, user := range []string{"nats://agent:********@host:4222", "nats://leaf:********@hub:7422", "https://api:********@api.example.org"} {
			if !strings.Contains(stdout, user) {
				t.Errorf("%v lacks %q:\n%s", args, user, stdout)
			}
		}
	}
}
