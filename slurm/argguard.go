package slurm

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsafeSbatchArgument is returned for an sbatch argument that would change the job script
// beyond its own "#SBATCH" line.
var ErrUnsafeSbatchArgument = errors.New("sbatch argument would add lines to the job script")

// CheckSbatchArguments verifies that each argument stays on its own "#SBATCH <arg>" line once
// injected (InjectSbatchArguments neither validates nor escapes). It refuses any argument
// holding a line break or another control character: '\n' (a new line the shell runs as a
// command), '\r', NUL, vertical tab, form feed and the rest of C0 and DEL, and the Unicode line
// breaks NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029). Tabs are
// allowed. The error names the argument's position and quotes it with Go escapes, so the
// submitter sees exactly which character was refused.
func CheckSbatchArguments(args []string) error {
	for i, a := range args {
		if j := strings.IndexFunc(a, lineBreaking); j >= 0 {
			r := []rune(a[j:])[0]
			return fmt.Errorf("%w: argument %d %q contains %s; each argument must be a single line without control characters",
				ErrUnsafeSbatchArgument, i+1, a, describeRune(r))
		}
	}
	return nil
}

func lineBreaking(r rune) bool {
	if r == '\t' {
		return false
	}
	return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029
}

func describeRune(r rune) string {
	switch r {
	case '\n':
		return `a newline (\n)`
	case '\r':
		return `a carriage return (\r)`
	case 0:
		return `a NUL byte (\x00)`
	}
	return fmt.Sprintf("the control character %U", r)
}
