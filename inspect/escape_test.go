package inspect

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

const pwned = "\x1b]0;pwned\x07\x1b[2J"

// controlsIn lists the bytes and runes of out that a terminal acts on, but newline and tab.
func controlsIn(out string) []string {
	var found []string
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			found = append(found, fmt.Sprintf("%q at %d", c, i))
		}
	}
	for i, r := range out {
		if r >= 0x80 && r <= 0x9f || isBidiControl(r) || r == '\uFFFD' && !strings.HasPrefix(out[i:], "\uFFFD") {
			found = append(found, fmt.Sprintf("%U at %d", r, i))
		}
	}
	return found
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, line, block string }{
		{"plain text, é ✓", "plain text, é ✓", "plain text, é ✓"},
		{pwned, `\x1b]0;pwned\x07\x1b[2J`, `\x1b]0;pwned\x07\x1b[2J`},
		{"a\r\nb\tc", `a\r\nb\tc`, "a\\r\n>>b\tc"},
		{"del\x7f c1\u009b raw\x9b bidi\u202e\u2066", `del\x7f c1\u009b raw\x9b bidi\u202e\u2066`, `del\x7f c1\u009b raw\x9b bidi\u202e\u2066`},
	}
	for _, tc := range tests {
		if got := escapeLine(tc.in); got != tc.line {
			t.Errorf("escapeLine(%q) = %q, want %q", tc.in, got, tc.line)
		}
		if got := escapeBlock(tc.in, ">>"); got != tc.block {
			t.Errorf("escapeBlock(%q) = %q, want %q", tc.in, got, tc.block)
		}
	}
}

// TestTextWritersEscape: every text writer escapes the user-influenced text it prints; WriteDead
// keeps a reason's lines, indented under its first, and the payload's lines and tabs.
func TestTextWritersEscape(t *testing.T) {
	d := DeadLetter{
		Seq: 7, Stream: "S" + pwned, Consumer: "c" + pwned, OriginSeq: 3, OriginSubject: "jbg.submit.7" + pwned,
		SubmissionID: "7" + pwned, Reason: "sbatch: error: " + pwned + "\r\nline two\x1b[1A\n", Deliveries: 1, DeadAt: time.Unix(0, 0),
		Header: nats.Header{"Jbg-Dead-Reason": {pwned}, "X" + pwned: {"v"}},
		Data:   []byte("#!/bin/sh\n\techo \x1b[31mred\r\n"),
	}
	var show bytes.Buffer
	if err := WriteDead(&show, d); err != nil {
		t.Fatal(err)
	}
	want := "Seq:         7\n" +
		"Dead at:     1970-01-01T00:00:00Z\n" +
		"Reason:      sbatch: error: \\x1b]0;pwned\\x07\\x1b[2J\\r\n" +
		"             line two\\x1b[1A\n" +
		"From:        S\\x1b]0;pwned\\x07\\x1b[2J seq 3, consumer c\\x1b]0;pwned\\x07\\x1b[2J\n"
	if !strings.HasPrefix(show.String(), want) {
		t.Errorf("WriteDead:\n%s\nwant the start\n%s", show.String(), want)
	}
	if !strings.Contains(show.String(), "Payload:\n#!/bin/sh\n\techo \\x1b[31mred\\r\n\n") {
		t.Errorf("WriteDead payload:\n%s", show.String())
	}

	var list, purged, retried, report bytes.Buffer
	_ = WriteDeadList(&list, []DeadLetter{d})
	_ = WritePurged(&purged, []DeadLetter{d})
	_ = WriteRetried(&retried, []Retried{{DeadLetter: d, Stream: "S" + pwned, Seq: 9}, {DeadLetter: d, Stream: "S", Outcome: AlreadyQueued}})
	_ = WriteReport(&report, Report{
		Prefix:    "JBG",
		Streams:   []StreamReport{{Name: "S" + pwned, Kind: "submit"}},
		Consumers: []ConsumerReport{{Stream: "S", Name: "c" + pwned}},
		Leader:    &LeaderReport{Holder: "h" + pwned, Host: "host" + pwned},
		Agents:    []AgentReport{{Key: "k" + pwned, AgentInfo: broker.AgentInfo{Host: "h" + pwned, Version: "v" + pwned, Roles: []string{"r" + pwned}}}},
		Dead:      DeadSummary{Total: 1, ByStream: []Count{{"S" + pwned, 1}}, ByReason: []Count{{d.Reason, 1}}},
	})
	for name, out := range map[string]string{"WriteDead": show.String(), "WriteDeadList": list.String(), "WritePurged": purged.String(),
		"WriteRetried": retried.String(), "WriteReport": report.String()} {
		if c := controlsIn(out); len(c) > 0 {
			t.Errorf("%s prints control characters %v:\n%q", name, c, out)
		}
		if !strings.Contains(out, `\x1b]0;pwned\x07\x1b[2J`) {
			t.Errorf("%s does not show the escaped text:\n%s", name, out)
		}
	}
}
