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
