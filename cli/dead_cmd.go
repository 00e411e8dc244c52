package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/omnivector-solutions/jobbergate-agent-go/inspect"
)

const deadUsage = `Usage: jobbergate-agent dead [flags] COMMAND
Commands:
  list              dead letters, oldest first (the newest --limit of them)
  show SEQ          one dead letter with its headers and payload
  retry SEQ|all     put it (or every one) back on its work queue, then remove it from dead letters
  purge SEQ|all     remove it (or every one) without retrying; asks nothing, prints what it removed
Flags (anywhere on the line):`

// deadCmd lists, shows, retries and purges dead letters. Exit 0 on success, 1 when an operation
// failed (for retry all: when any retry failed), exitUnreachable when NATS cannot be reached.
func deadCmd(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("dead", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 100, "list: show at most this many (the newest); 0 for all")
	timeout := fs.Duration("timeout", defaultInspectTimeout, "connect timeout; also bounds list, show and single retry/purge")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, deadUsage)
		fs.PrintDefaults()
	}
	words, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.stderr, "dead: "+format+"\n", a...)
		fs.Usage()
		return exitUsage
	}
	if len(words) == 0 {
		return usage("missing command")
	}
	op, rest := words[0], words[1:]
	var seq uint64
	all := false
	switch op {
	case "list":
		if len(rest) != 0 {
			return usage("list takes no argument")
		}
	case "show", "retry", "purge":
		if len(rest) != 1 {
			if op == "show" {
				return usage("show needs one argument: a dead-letter sequence number")
			}
			return usage("%s needs one argument: a dead-letter sequence number or all", op)
		}
		if rest[0] == "all" && op != "show" {
			all = true
		} else if seq, err = strconv.ParseUint(rest[0], 10, 64); err != nil || seq == 0 {
			return usage("%q is not a dead-letter sequence number", rest[0])
		}
	default:
		return usage("unknown command %q", op)
	}

	ic, code := openInspect(env, *timeout)
	if ic == nil {
		return code
	}
	defer ic.close()
	// Bulk retry and purge get no overall deadline (each JetStream request still has the
	// client's default timeout), so a large backlog is not cut off half-way.
	cctx, cancel := context.WithCancel(ctx)
	if !all {
		cctx, cancel = context.WithTimeout(ctx, *timeout)
	}
	defer cancel()

	cmd := "dead " + op
	var out any
	var opErr error
	var write func() error
	switch {
	case op == "list":
		var letters []inspect.DeadLetter
		letters, opErr = inspect.ListDead(cctx, ic.js, ic.topo, *limit)
		out, write = letters, func() error { return inspect.WriteDeadList(env.stdout, letters) }
	case op == "show":
		var d inspect.DeadLetter
		d, opErr = inspect.GetDead(cctx, ic.js, ic.topo, seq)
		out, write = d, func() error { return inspect.WriteDead(env.stdout, d) }
	case op == "retry":
		var rs []inspect.Retried
		if all {
			rs, opErr = inspect.RetryAllDead(cctx, ic.js, ic.topo)
		} else {
			var r inspect.Retried
			if r, opErr = inspect.RetryDead(cctx, ic.js, ic.topo, seq); opErr == nil {
				rs = []inspect.Retried{r}
			}
		}
		out, write = rs, func() error { return inspect.WriteRetried(env.stdout, rs) }
	case op == "purge":
		var letters []inspect.DeadLetter
		if all {
			letters, opErr = inspect.PurgeAllDead(cctx, ic.js, ic.topo)
		} else {
			var d inspect.DeadLetter
			if d, opErr = inspect.PurgeDead(cctx, ic.js, ic.topo, seq); opErr == nil {
				d.Header, d.Data = nil, nil
				letters = []inspect.DeadLetter{d}
			}
		}
		out, write = letters, func() error { return inspect.WritePurged(env.stdout, letters) }
	}
	// Partial results (retry all with some failures) are printed before the error.
	if opErr == nil || op == "retry" && all {
		var err error
		if *asJSON {
			err = writeJSON(env, out)
		} else {
			err = write()
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "%s: %v\n", cmd, err)
			return 1
		}
	}
	if opErr != nil {
		return inspectFailed(env, cmd, opErr)
	}
	return 0
}

// parseInterleaved parses flags placed anywhere among the positional words.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
