package slurm

import (
	"strings"
)

// ScriptComment returns the --comment a job script sets for itself in its #SBATCH lines, as
// sbatch reads them: directives before the first line that is neither blank nor a comment, each
// "#SBATCH" line split into words at white space (double or single quotes group words and are
// removed, a word starting with '#' ends the line), the last --comment=VALUE or --comment VALUE
// winning. Empty when the script sets none. Abbreviated option names are not recognised.
func ScriptComment(script []byte) string {
	var comment string
	for _, line := range strings.Split(string(script), "\n") {
		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed != "" && trimmed[0] != '#' {
			break // the first command: sbatch reads no directive after it
		}
		rest, ok := strings.CutPrefix(line, "#SBATCH")
		if !ok {
			continue
		}
		if c, _, ok := argsComment(directiveWords(rest)); ok {
			comment = c
		}
	}
	return comment
}

// ScriptSetsJobName reports whether a job script names its job in its #SBATCH lines
// (--job-name=NAME, --job-name NAME, -J NAME, -JNAME), read as ScriptComment reads them.
func ScriptSetsJobName(script []byte) bool {
	for _, line := range strings.Split(string(script), "\n") {
		trimmed := strings.TrimSpace(strings.TrimRight(line, "\r"))
		if trimmed != "" && trimmed[0] != '#' {
			return false
		}
		if rest, ok := strings.CutPrefix(line, "#SBATCH"); ok && argsSetJobName(directiveWords(rest)) {
			return true
		}
	}
	return false
}

// argsSetJobName reports whether sbatch arguments name the job.
func argsSetJobName(args []string) bool {
	for _, a := range args {
		if a == "--job-name" || strings.HasPrefix(a, "--job-name=") || strings.HasPrefix(a, "-J") {
			return true
		}
	}
	return false
}

// argsComment returns the value of the last --comment in args and args without the --comment
// options; ok is false when there is none.
func argsComment(args []string) (comment string, rest []string, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "--comment="):
			comment, ok = strings.TrimPrefix(a, "--comment="), true
		case a == "--comment" && i+1 < len(args):
			comment, ok = args[i+1], true
			i++
		default:
			rest = append(rest, a)
		}
	}
	return comment, rest, ok
}

// directiveWords splits the text after "#SBATCH" into words the way sbatch does.
func directiveWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case r == '#' && !inWord:
			return words
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
