package fxmodules

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// TestSlurmCommandsFromSettings: with Slurm under /opt (SCONTROL_PATH set, as the reference's
// sites set it), the client runs squeue and sacct from there too, and every path set reaches
// the client's options.
func TestSlurmCommandsFromSettings(t *testing.T) {
	logger := testenv.Logger(t)
	s, err := config.Load(config.Source{Dotenv: "none", Environ: []string{
		"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir(),
		"JOBBERGATE_AGENT_SBATCH_PATH=/opt/slurm/sbin/sbatch",
		"JOBBERGATE_AGENT_SCONTROL_PATH=/opt/slurm/bin/scontrol",
		"JOBBERGATE_AGENT_SCANCEL_PATH=/opt/slurm/bin/scancel",
	}})
	if err != nil {
		t.Fatal(err)
	}
	o := SlurmOptions(s, logger)
	for name, c := range map[string]struct{ got, want string }{
		"sbatch": {o.SbatchPath, "/opt/slurm/sbin/sbatch"}, "scontrol": {o.ScontrolPath, "/opt/slurm/bin/scontrol"},
		"scancel": {o.ScancelPath, "/opt/slurm/bin/scancel"}, "squeue": {o.SqueuePath, "/opt/slurm/bin/squeue"},
		"sacct": {o.SacctPath, "/opt/slurm/bin/sacct"},
	} {
		if c.got != c.want {
			t.Errorf("%s path %q, want %q", name, c.got, c.want)
		}
	}

	// The client built from them runs the sacct beside scontrol.
	dir := t.TempDir()
	ran := filepath.Join(dir, "sacct-ran")
	script := "#!/bin/sh\necho \"$@\" >> " + ran + "\necho '{\"jobs\":[]}'\n"
	if err := os.WriteFile(filepath.Join(dir, "sacct"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err = config.Load(config.Source{Dotenv: "none", Environ: []string{
		"JOBBERGATE_AGENT_CACHE_DIR=" + t.TempDir(), "JOBBERGATE_AGENT_SCONTROL_PATH=" + filepath.Join(dir, "scontrol"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	o = SlurmOptions(s, logger)
	o.StateSessions = 0 // no scontrol here
	c, err := slurm.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AccountingMode(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(ran); err != nil || len(b) == 0 {
		t.Errorf("the sacct in SCONTROL_PATH's directory did not run: %v", err)
	}
}
