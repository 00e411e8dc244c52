package slurm

import "testing"

func TestInjectSbatchArguments(t *testing.T) {
	args := []string{"--comment=some_comment", "--nice=-1", "-N 10"}
	tests := []struct {
		name   string
		script string
		args   []string
		header string
		want   string
	}{
		{
			name:   "after existing SBATCH lines, with header",
			script: "\n#!/bin/bash\n\n#SBATCH --job-name=rats\n#SBATCH --partition=debug\n#SBATCH --output=sample-%j.out\n\necho $SLURM_TASKS_PER_NODE\necho $SLURM_SUBMIT_DIR\n",
			args:   args,
			header: "Sbatch params injected at rendering time",
			want:   "\n#!/bin/bash\n\n#SBATCH --job-name=rats\n#SBATCH --partition=debug\n#SBATCH --output=sample-%j.out\n\n# Sbatch params injected at rendering time\n#SBATCH --comment=some_comment\n#SBATCH --nice=-1\n#SBATCH -N 10\n\necho $SLURM_TASKS_PER_NODE\necho $SLURM_SUBMIT_DIR\n",
		},
		{
			name:   "no SBATCH lines, no header",
			script: "\n#!/bin/bash\n\necho $SLURM_TASKS_PER_NODE\necho $SLURM_SUBMIT_DIR\n",
			args:   args,
			want:   "\n#!/bin/bash\n\n#SBATCH --comment=some_comment\n#SBATCH --nice=-1\n#SBATCH -N 10\n\necho $SLURM_TASKS_PER_NODE\necho $SLURM_SUBMIT_DIR\n",
		},
		{
			name:   "empty list leaves the script unchanged",
			script: "\n#!/bin/bash\n\necho $SLURM_TASKS_PER_NODE\necho $SLURM_SUBMIT_DIR\n",
			args:   nil,
			header: "Sbatch params injected at rendering time",
			want:   "\n#!/bin/bash\n\necho $SLURM_TASKS_PER_NODE\necho $SLURM_SUBMIT_DIR\n",
		},
		{
			name:   "a line starting with a space is a command",
			script: "#!/bin/sh\n echo hi\n",
			args:   []string{"-J x"},
			header: InjectionHeader,
			want:   "#!/bin/sh\n# Sbatch params injected at submission time\n#SBATCH -J x\n\n echo hi\n",
		},
		{
			name:   "only comments: appended at the end",
			script: "#!/bin/sh\n#SBATCH -p debug",
			args:   []string{"-J x"},
			want:   "#!/bin/sh\n#SBATCH -p debug\n#SBATCH -J x\n\n",
		},
		{
			name:   "empty script",
			script: "",
			args:   []string{"-J x"},
			want:   "#SBATCH -J x\n\n",
		},
		{
			name:   "arguments are not escaped",
			script: "#!/bin/sh\ntrue\n",
			args:   []string{"--wrap='a b'; rm -rf /"},
			want:   "#!/bin/sh\n#SBATCH --wrap='a b'; rm -rf /\n\ntrue\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := InjectSbatchArguments(tt.script, tt.args, tt.header)
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestScriptSetsJobName(t *testing.T) {
	for script, want := range map[string]bool{
		"#!/bin/sh\ntrue\n":                              false,
		"#!/bin/sh\n#SBATCH --job-name=x\ntrue\n":        true,
		"#!/bin/sh\n#SBATCH --job-name x\n":              true,
		"#!/bin/sh\n#SBATCH -J x\n":                      true,
		"#!/bin/sh\n#SBATCH -Jx\n":                       true,
		"#!/bin/sh\ntrue\n#SBATCH --job-name=late\n":     false, // after the first command sbatch reads no directive
		"#!/bin/sh\n#SBATCH --comment=\"-J x\"\ntrue\n":  false,
		"#!/bin/sh\n# --job-name=x is a plain comment\n": false,
	} {
		if got := ScriptSetsJobName([]byte(script)); got != want {
			t.Errorf("ScriptSetsJobName(%q) = %v, want %v", script, got, want)
		}
	}
}
