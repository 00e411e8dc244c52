package slurm

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
)

// Version is a Slurm release, as printed by sbatch --version ("slurm 23.11.4",
// "slurm-wlm 22.05.8").
type Version struct {
	Major, Minor, Patch int
	Raw                 string
}

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// ScontrolJSON reports whether scontrol show job accepts --json (23.02 and later).
func (v Version) ScontrolJSON() bool { return v.AtLeast(23, 2) }

// JobStateIsList reports whether job_state is a list in the JSON output (23.11 and later).
func (v Version) JobStateIsList() bool { return v.AtLeast(23, 11) }

func (v Version) String() string { return fmt.Sprintf("%d.%02d.%d", v.Major, v.Minor, v.Patch) }

var versionRe = regexp.MustCompile(`(\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads the output of sbatch --version or scontrol --version. A version whose
// numbers do not fit an int is an error.
func ParseVersion(out string) (Version, error) {
	m := versionRe.FindStringSubmatch(out)
	if m == nil {
		return Version{}, fmt.Errorf("no slurm version in %q", out)
	}
	v := Version{Raw: m[0]}
	for i, dst := range []*int{&v.Major, &v.Minor, &v.Patch} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil { // out of range: never a real release, and must not read as a huge one
			return Version{}, fmt.Errorf("slurm version %q: %w", m[0], err)
		}
		*dst = n
	}
	return v, nil
}

// Version runs sbatch --version as the agent, so callers know which dialect to expect.
func (c *Client) Version(ctx context.Context) (Version, error) {
	out, err := c.runAsAgent(ctx, c.opts.SbatchPath, "--version")
	if err != nil {
		return Version{}, fmt.Errorf("sbatch --version: %w", err)
	}
	return ParseVersion(out)
}
