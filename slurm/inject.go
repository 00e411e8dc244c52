package slurm

import "strings"

// InjectionHeader is the comment the reference agent puts above injected arguments.
const InjectionHeader = "Sbatch params injected at submission time"

// InjectSbatchArguments inserts one "#SBATCH <arg>" line per argument into script, preceded by
// "# <header>" when header is not empty and followed by one empty line. They go before the first
// line that starts with a character other than '#' or a newline (blank lines and comment or
// #SBATCH lines are skipped; a line starting with a space counts as a command), or at the end
// when there is no such line. An empty args list returns script unchanged. Arguments are neither
// validated nor escaped (spec 8.5).
func InjectSbatchArguments(script string, args []string, header string) string {
	if len(args) == 0 {
		return script
	}
	var block strings.Builder
	if header != "" {
		block.WriteString("# " + header + "\n")
	}
	for _, a := range args {
		block.WriteString("#SBATCH " + a + "\n")
	}
	block.WriteString("\n")

	lines := strings.SplitAfter(script, "\n")
	pos := 0
	for _, l := range lines {
		if l != "" && l[0] != '#' && l[0] != '\n' {
			return script[:pos] + block.String() + script[pos:]
		}
		pos += len(l)
	}
	if script != "" && !strings.HasSuffix(script, "\n") {
		return script + "\n" + block.String()
	}
	return script + block.String()
}
