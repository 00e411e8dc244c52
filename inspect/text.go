package inspect

import (
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// WriteReport prints r as human-readable tables.
func WriteReport(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "jobbergate-agent status of %s at %s\n\n", r.Prefix, r.CollectedAt.Format(time.RFC3339))

	fmt.Fprintln(tw, "STREAM\tKIND\tMESSAGES\tBYTES\tCONSUMERS")
	for _, s := range r.Streams {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", escapeLine(s.Name), escapeLine(s.Kind), s.Messages, byteSize(s.Bytes), s.Consumers)
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "CONSUMER\tPENDING\tIN FLIGHT\tREDELIVERED\tWAITING PULLS\tMAX DELIVER\tACK WAIT")
	for _, c := range r.Consumers {
		fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%d\t%d\t%d\t%s\n", escapeLine(c.Stream), escapeLine(c.Name), c.Pending, c.AckPending,
			c.Redelivered, c.Waiting, c.MaxDeliver, c.AckWait)
	}
	fmt.Fprintln(tw)

	if l := r.Leader; l != nil {
		fmt.Fprintf(tw, "BRIDGE LEADER\t%s (host %s, pid %d) since %s; lease renewed %s ago, ttl %s\n",
			escapeLine(l.Holder), escapeLine(l.Host), l.PID, l.Since.Format(time.RFC3339), age(l.LeaseAge), l.TTL)
	} else {
		fmt.Fprintln(tw, "BRIDGE LEADER\tnone: no bridge holds the lease")
	}
	fmt.Fprintln(tw)

	if len(r.Agents) == 0 {
		fmt.Fprintln(tw, "AGENTS\tnone: no heartbeat in the agents bucket")
	} else {
		fmt.Fprintln(tw, "AGENT\tHOST\tPID\tVERSION\tROLES\tSTARTED\tLAST SEEN")
		for _, a := range r.Agents {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s ago\n", escapeLine(a.Key), escapeLine(a.Host), a.PID, escapeLine(a.Version),
				escapeLine(strings.Join(a.Roles, ",")), a.StartedAt.Format(time.RFC3339), age(a.Age))
		}
	}
	fmt.Fprintln(tw)

	fmt.Fprintf(tw, "DEAD LETTERS\t%d\n", r.Dead.Total)
	if r.Dead.Total > 0 {
		fmt.Fprintln(tw, "FROM STREAM\tCOUNT")
		for _, c := range r.Dead.ByStream {
			fmt.Fprintf(tw, "%s\t%d\n", escapeLine(c.Key), c.Count)
		}
		fmt.Fprintln(tw, "REASON\tCOUNT")
		for _, c := range r.Dead.ByReason {
			fmt.Fprintf(tw, "%s\t%d\n", oneLine(c.Key, 100), c.Count)
		}
	}
	return tw.Flush()
}

// WriteDeadList prints dead letters as a table, one line each.
func WriteDeadList(w io.Writer, letters []DeadLetter) error {
	if len(letters) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tDEAD AT\tFROM STREAM\tSUBJECT\tSUBMISSION\tDELIVERIES\tREASON")
	for _, d := range letters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Seq, d.DeadAt.Format(time.RFC3339), escapeLine(d.Stream),
			escapeLine(d.OriginSubject), orDash(escapeLine(d.SubmissionID)), d.Deliveries, oneLine(d.Reason, 80))
	}
	return tw.Flush()
}

// deadLabelWidth is the width of WriteDead's labels column ("Submission:" and two spaces).
const deadLabelWidth = 13

// WriteDead prints one dead letter with its headers and payload (as text when it is UTF-8,
// base64 otherwise). Text is escaped (see escapeLine); the lines of a reason of several lines
// are indented under its first, the payload keeps its lines and tabs.
func WriteDead(w io.Writer, d DeadLetter) error {
	indent := strings.Repeat(" ", deadLabelWidth)
	field := func(label, format string, a ...any) {
		fmt.Fprintf(w, "%-*s"+format+"\n", append([]any{deadLabelWidth, label}, a...)...)
	}
	field("Seq:", "%d", d.Seq)
	field("Dead at:", "%s", d.DeadAt.Format(time.RFC3339Nano))
	field("Reason:", "%s", escapeBlock(strings.TrimRight(d.Reason, "\r\n"), indent))
	field("From:", "%s seq %d, consumer %s", escapeLine(d.Stream), d.OriginSeq, escapeLine(d.Consumer))
	field("Subject:", "%s", escapeLine(d.OriginSubject))
	field("Submission:", "%s", orDash(escapeLine(d.SubmissionID)))
	field("Deliveries:", "%d", d.Deliveries)
	field("Size:", "%d bytes", d.Size)
	keys := make([]string, 0, len(d.Header))
	for k := range d.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintln(w, "Headers:")
	for _, k := range keys {
		for _, v := range d.Header[k] {
			fmt.Fprintf(w, "  %s: %s\n", escapeLine(k), escapeLine(v))
		}
	}
	var err error
	if utf8.Valid(d.Data) {
		_, err = fmt.Fprintf(w, "Payload:\n%s\n", escapeBlock(string(d.Data), ""))
	} else {
		_, err = fmt.Fprintf(w, "Payload (base64):\n%s\n", base64.StdEncoding.EncodeToString(d.Data))
	}
	return err
}

// WriteRetried prints the outcome of retries.
func WriteRetried(w io.Writer, rs []Retried) error {
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "no dead letter retried")
		return err
	}
	for _, r := range rs {
		var err error
		switch r.Outcome {
		case AlreadyQueued:
			_, err = fmt.Fprintf(w, "dead letter %d (%s): already queued on %s, removed from dead letters\n",
				r.DeadLetter.Seq, escapeLine(r.DeadLetter.OriginSubject), escapeLine(r.Stream))
		default:
			_, err = fmt.Fprintf(w, "dead letter %d (%s): requeued on %s as seq %d, removed from dead letters\n",
				r.DeadLetter.Seq, escapeLine(r.DeadLetter.OriginSubject), escapeLine(r.Stream), r.Seq)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// WritePurged prints the dead letters that were removed.
func WritePurged(w io.Writer, letters []DeadLetter) error {
	if len(letters) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters to purge")
		return err
	}
	for _, d := range letters {
		if _, err := fmt.Fprintf(w, "purged dead letter %d (%s, submission %s): %s\n",
			d.Seq, escapeLine(d.OriginSubject), orDash(escapeLine(d.SubmissionID)), oneLine(d.Reason, 80)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d dead letter(s) purged\n", len(letters))
	return err
}

func byteSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func age(d time.Duration) time.Duration {
	if d < 0 {
		d = 0
	}
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a free-text field on one table line, escaped, and at most n runes.
func oneLine(s string, n int) string {
	s = escapeLine(strings.Join(strings.Fields(s), " "))
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n-1]) + "…"
	}
	return s
}
