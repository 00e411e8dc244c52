package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

const envExamplePath = "../deploy/env/jobbergate-agent.env.example"

// TestEnvExampleUpToDate fails when a setting was added, renamed or re-documented without
// regenerating the example: `go generate ./cli`.
func TestEnvExampleUpToDate(t *testing.T) {
	code, out, stderr := run(t, nil, "config", "--example")
	if code != 0 {
		t.Fatalf("config --example: exit %d: %s", code, stderr)
	}
	onDisk, err := os.ReadFile(envExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) != out {
		t.Fatalf("%s is stale: run `go generate ./cli`", envExamplePath)
	}
	for _, e := range config.Describe(&config.Settings{}) {
		if !strings.Contains(out, "\n#"+e.Name+"=") {
			t.Errorf("%s is not in the example", e.Name)
		}
		if e.Doc == "" {
			t.Errorf("%s has no doc tag", e.Name)
		}
	}
}

// TestEnvExampleUncommentedIsValid loads the example with every setting uncommented (at its
// documented default) and expects no problem: the documented defaults are valid values.
func TestEnvExampleUncommentedIsValid(t *testing.T) {
	data, err := os.ReadFile(envExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "#"+config.Prefix) {
			l = strings.TrimPrefix(l, "#")
			n++
		}
		lines = append(lines, l)
	}
	path := filepath.Join(t.TempDir(), "agent.env")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if n != len(config.Describe(&config.Settings{})) {
		t.Errorf("%d settings in the file, want %d", n, len(config.Describe(&config.Settings{})))
	}
	if _, err := config.Load(config.Source{Environ: []string{"HOME=" + t.TempDir()}, Dotenv: path}); err != nil {
		t.Errorf("the example's defaults do not load:\n%v", err)
	}
}
