package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// UserPath is the only environment variable a command run as a user gets by default.
const UserPath = "PATH=/usr/bin:/bin"

// CommandError is a command that ran and exited with a non-zero status. Its message is the
// reference agent's: "Failed to run command with code N: <stderr, or stdout when stderr is
// empty>", with the command's output kept verbatim (only the trailing newline is trimmed).
type CommandError struct {
	Command  string // path of the program
	Args     []string
	ExitCode int
	Stdout   string
	Stderr   string
}

func (e *CommandError) Error() string {
	out := e.Stderr
	if strings.TrimSpace(out) == "" {
		out = e.Stdout
	}
	return fmt.Sprintf("Failed to run command with code %d: %s", e.ExitCode, strings.TrimRight(out, "\n"))
}

// maxUserOutput bounds what is kept of each of the standard output and error of a command run
// as a user (sbatch prints a job id, or an error of a few lines).
const maxUserOutput = 64 << 10

// maxAgentOutput bounds what the agent's own Slurm reads may print (a single job's record, an
// owner's listing is streamed instead): more fails the read with ErrOutputTooLarge, so that no
// Slurm answer, however large, is held whole.
const maxAgentOutput = 32 << 20

// ErrOutputTooLarge is a Slurm read whose output passed maxAgentOutput.
var ErrOutputTooLarge = errors.New("slurm command output too large")

// boundedBuffer keeps the first max bytes written to it (all with a negative max) and drops the
// rest, still reporting every write as complete so the writer is never blocked or failed. It
// has no ReadFrom (the bytes.Buffer is a field, not embedded): io.Copy, which os/exec uses to
// fill it, would otherwise read a command's whole output past the bound.
type boundedBuffer struct {
	buf     bytes.Buffer
	max     int
	dropped int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.max < 0 {
		return b.buf.Write(p)
	}
	keep := min(len(p), max(b.max-b.buf.Len(), 0))
	b.buf.Write(p[:keep])
	b.dropped += int64(len(p) - keep)
	return len(p), nil
}

// String returns what was kept.
func (b *boundedBuffer) String() string { return b.buf.String() }

// runSpec describes one command. A nil user runs as the agent.
type runSpec struct {
	user  *User
	env   []string // complete environment of the child
	dir   string   // entered by the child after the identity switch
	stdin io.Reader
	// stdout receives the standard output; nil captures it into the result.
	stdout io.Writer
	// consume, when set, reads the standard output as the command writes it (stdout is then
	// ignored). Whatever it leaves unread is discarded. Its error is returned when the command
	// itself succeeded.
	consume func(io.Reader) error
	path    string
	args    []string
}

// resolveUserProgram finds a bare program name in the fixed user PATH; names with a slash are
// returned as they are.
func resolveUserProgram(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, d := range []string{"/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("program %q not found in /usr/bin:/bin", name)
}

// run starts the command and waits for it. A non-zero exit is returned as *CommandError; a
// failure to start (missing program, chdir refused after the identity switch...) as a wrapped
// error. The child is killed when ctx ends.
func run(ctx context.Context, s runSpec) (string, error) {
	cmd := exec.CommandContext(ctx, s.path, s.args...)
	cmd.Env = s.env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = s.dir
	cmd.Stdin = s.stdin
	// What a user's command prints is the user's to choose: keep a bounded part of it.
	outLimit, errLimit := maxAgentOutput, maxUserOutput
	if s.user != nil {
		outLimit = maxUserOutput
	}
	stdout, stderr := &boundedBuffer{max: outLimit}, &boundedBuffer{max: errLimit}
	cmd.Stdout = stdout
	if s.stdout != nil {
		cmd.Stdout = s.stdout
	}
	cmd.Stderr = stderr
	// finish ends the consumer's input once the command is done and returns its error.
	finish := func(error) error { return nil }
	if s.consume != nil {
		pr, pw := io.Pipe()
		cmd.Stdout = pw
		consumed := make(chan error, 1)
		go func() {
			err := s.consume(pr)
			_, _ = io.Copy(io.Discard, pr) // never leave the command blocked on a full pipe
			consumed <- err
		}()
		finish = func(runErr error) error {
			_ = pw.CloseWithError(runErr)
			return <-consumed
		}
	}
	if s.user != nil {
		groups := s.user.Groups
		if groups == nil {
			groups = []uint32{s.user.GID}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{
				Uid:    s.user.UID,
				Gid:    s.user.GID,
				Groups: groups,
			},
			Setsid: true,
		}
	}
	err := cmd.Run()
	if cerr := finish(err); err == nil && cerr != nil {
		return "", cerr
	}
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() >= 0 {
			return stdout.String(), &CommandError{
				Command: s.path, Args: s.args, ExitCode: exit.ExitCode(),
				Stdout: stdout.String(), Stderr: stderr.String(),
			}
		}
		if ctx.Err() != nil {
			return stdout.String(), fmt.Errorf("run %s: %w", filepath.Base(s.path), ctx.Err())
		}
		who := "the agent"
		if s.user != nil {
			who = "user " + s.user.Name
		}
		return stdout.String(), fmt.Errorf("run %s as %s: %w", filepath.Base(s.path), who, err)
	}
	if s.user == nil && stdout.dropped > 0 {
		return "", fmt.Errorf("%s %s: %w: more than %d bytes", filepath.Base(s.path), strings.Join(s.args, " "), ErrOutputTooLarge, maxAgentOutput)
	}
	return stdout.String(), nil
}

// agentEnv returns env without Slurm's input variables, which would change what the commands
// print or submit. SLURM_CONF is kept: it says where the cluster's configuration is.
func agentEnv(env []string) []string {
	prefixes := []string{"SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SCONTROL_", "SCANCEL_", "SINFO_", "SACCT_"}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		drop := false
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) && !strings.HasPrefix(kv, "SLURM_CONF=") {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}
