package inspect

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// What the text writers print comes from messages and buckets that users influence (a failed
// job's sbatch stderr and the API's error bodies become dead-letter reasons; a job script is a
// payload): it is escaped so that it cannot act on the admin's terminal. Control characters (C0
// but newline and tab where a block keeps them, DEL, C1), bytes that are not UTF-8 (which an
// 8-bit terminal may take for C1, e.g. 0x9b, CSI) and the bidirectional overrides that reorder
// what is shown print as Go-style escapes: "\x1b", "\r", "\u009b", "\u202e". JSON output (--json)
// keeps the exact bytes.

// escapeLine returns s on one line: newlines and tabs escaped too.
func escapeLine(s string) string { return escape(s, false, "") }

// escapeBlock returns s with its newlines kept, each followed by indent (so that continuation
// lines stay under the first), and its tabs kept.
func escapeBlock(s, indent string) string { return escape(s, true, indent) }

func escape(s string, block bool, indent string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case block && r == '\n':
			b.WriteByte('\n')
			b.WriteString(indent)
		case block && r == '\t':
			b.WriteByte('\t')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, isBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// isBidiControl reports the formatting characters that change the order in which a terminal shows
// the text around them.
func isBidiControl(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
