package slurm

import (
	"errors"
	"testing"
)

func TestParseSbatchOutput(t *testing.T) {
	tests := []struct {
		out     string
		id      int64
		cluster string
		wantErr bool
	}{
		{out: "123", id: 123},
		{out: "123\n", id: 123},
		{out: "123;cluster\n", id: 123, cluster: "cluster"},
		{out: "123,fake-sbatch-cluster", id: 123, cluster: "fake-sbatch-cluster"},
		{out: "", wantErr: true},
		{out: "\n", wantErr: true},
		{out: "not-a-number", wantErr: true},
		{out: "Submitted batch job 12\n", wantErr: true},
		{out: "12\n13\n", wantErr: true},
		{out: "0", wantErr: true},
		{out: "-5", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseSbatchOutput(tt.out)
		if tt.wantErr {
			if !errors.Is(err, ErrUnparsableJobID) {
				t.Errorf("ParseSbatchOutput(%q) err = %v, want ErrUnparsableJobID", tt.out, err)
			}
			continue
		}
		if err != nil || got.JobID != tt.id || got.Cluster != tt.cluster {
			t.Errorf("ParseSbatchOutput(%q) = %+v, %v; want id %d cluster %q", tt.out, got, err, tt.id, tt.cluster)
		}
	}
}

func TestSafeFileName(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "job.sh", want: "job.sh"},
		{in: "../../etc/x", want: "x"},
		{in: "/etc/passwd", want: "passwd"},
		{in: "dir/sub/", want: "sub"},
		{in: "a b.txt", want: "a b.txt"},
		{in: "", wantErr: true},
		{in: ".", wantErr: true},
		{in: "..", wantErr: true},
		{in: "a/..", wantErr: true},
		{in: "/", wantErr: true},
		{in: "x\x00y", wantErr: true},
	}
	for _, tt := range tests {
		got, err := SafeFileName(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidFileName) {
				t.Errorf("SafeFileName(%q) = %q, %v; want ErrInvalidFileName", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SafeFileName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		out                 string
		major, minor, patch int
		scontrolJSON, list  bool
	}{
		{"slurm-wlm 22.05.8\n", 22, 5, 8, false, false},
		{"slurm 23.02.7\n", 23, 2, 7, true, false},
		{"slurm 23.11.4\n", 23, 11, 4, true, true},
		{"slurm 24.11.0-0rc1\n", 24, 11, 0, true, true},
	}
	for _, tt := range tests {
		v, err := ParseVersion(tt.out)
		if err != nil || v.Major != tt.major || v.Minor != tt.minor || v.Patch != tt.patch {
			t.Errorf("ParseVersion(%q) = %+v, %v", tt.out, v, err)
			continue
		}
		if v.ScontrolJSON() != tt.scontrolJSON || v.JobStateIsList() != tt.list {
			t.Errorf("%s: ScontrolJSON %v JobStateIsList %v", v, v.ScontrolJSON(), v.JobStateIsList())
		}
	}
	if _, err := ParseVersion("sbatch: command not found"); err == nil {
		t.Error("ParseVersion accepted text without a version")
	}
}

func TestCommandErrorMessage(t *testing.T) {
	tests := []struct {
		err  CommandError
		want string
	}{
		{CommandError{ExitCode: 1, Stderr: "sbatch: error: invalid partition specified: nosuch\n"},
			"Failed to run command with code 1: sbatch: error: invalid partition specified: nosuch"},
		{CommandError{ExitCode: 2, Stdout: "only stdout\n"}, "Failed to run command with code 2: only stdout"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q want %q", got, tt.want)
		}
	}
}

func TestAgentEnvDropsSlurmInputVariables(t *testing.T) {
	in := []string{"HOME=/root", "SLURM_JOB_ID=5", "SLURM_CONF=/etc/slurm/alt.conf", "SQUEUE_FORMAT=%i", "SBATCH_PARTITION=x", "PATH=/usr/bin"}
	got := agentEnv(in)
	want := []string{"HOME=/root", "SLURM_CONF=/etc/slurm/alt.conf", "PATH=/usr/bin"}
	if len(got) != len(want) {
		t.Fatalf("agentEnv = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("agentEnv = %q, want %q", got, want)
		}
	}
}
