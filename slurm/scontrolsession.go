package slurm

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Timings and limits of the long-lived scontrol sessions.
const (
	// sessionQueryTimeout bounds one show job in a session (slurmctld's own message timeout is
	// 10 s by default); past it the session is killed and the read falls back to its own scontrol.
	sessionQueryTimeout = 20 * time.Second
	// sessionStartTimeout bounds the start-up handshake (a local command).
	sessionStartTimeout = 10 * time.Second
	// sessionAcquireWait is how long a read waits for a busy session before it starts its own
	// scontrol instead (a session read takes milliseconds; a longer wait means one is stuck).
	sessionAcquireWait = time.Second
	// sessionKillWait bounds the wait for a killed session to exit (a process stuck in an
	// uninterruptible sleep, on a hung file system, does not die at once); it is reaped later.
	sessionKillWait = 5 * time.Second
	// sessionMaxQueries retires a session after that many reads, so that no scontrol process
	// lives for ever whatever it accumulates.
	sessionMaxQueries = 20000
	// sessionMaxAge retires a session after that long, so that a Slurm upgrade on the login
	// node reaches the state reads within the hour.
	sessionMaxAge = time.Hour
	// sessionMinPause and sessionMaxPause bound the pause after a session failed to start.
	sessionMinPause = 30 * time.Second
	sessionMaxPause = 30 * time.Minute
	// maxSessionAnswer bounds the bytes of one answer a session keeps.
	maxSessionAnswer = 16 << 20
	// scontrolPrompt is what interactive scontrol prints before reading a command; with readline
	// it is followed by the echoed command, without it by the next output.
	scontrolPrompt = "scontrol: "
)

// errSessionBroken is a session that can no longer be trusted: it exited, timed out or could
// not be started. It is killed and replaced on a later read.
var errSessionBroken = errors.New("scontrol session broken")

// errUnclean is an answer that held something besides job lines (a field value with a newline
// in it, an error message on the standard output): the session is still in step, but the read
// falls back to a scontrol of its own.
var errUnclean = errors.New("scontrol session answer not clean")

// scontrolPool holds up to n long-lived interactive scontrol processes (scontrol -o reading
// commands on its standard input, run as the agent like every state read) to read single jobs
// without starting a process per read: on a login node, starting scontrol costs about as much
// CPU as the read itself. A pool is only an accelerator: showJob reports ok=false whenever it
// has no clean answer (no session free within sessionAcquireWait, a session broken or timed
// out, a job id slurmctld does not hold, anything but job lines in the answer) and the caller
// then runs its own scontrol, which gives the authoritative answer or error. Safe for
// concurrent use.
type scontrolPool struct {
	path   string
	env    []string
	logger *slog.Logger
	// flags, when set, gives the extra flags of state reads (--local): a session starts with
	// them (wait: after the first federation check) and is replaced when they change.
	flags func(wait bool) []string

	idle  chan *scontrolSession // sessions ready for a read
	slots chan struct{}         // one token per session that may still be started

	queryTimeout time.Duration // sessionQueryTimeout; shorter in tests
	answered     atomic.Int64  // reads a session answered (ok=true)

	mu      sync.Mutex
	closed  bool
	pauseTo time.Time     // no session is started before then (after failed starts)
	pause   time.Duration // the next pause; doubles with each failed start in a row
}

// newScontrolPool returns a pool of at most n sessions of program; none is started before the
// first read.
func newScontrolPool(program string, env []string, n int, logger *slog.Logger) *scontrolPool {
	p := &scontrolPool{path: program, env: env, logger: logger, queryTimeout: sessionQueryTimeout,
		idle: make(chan *scontrolSession, n), slots: make(chan struct{}, n)}
	for range n {
		p.slots <- struct{}{}
	}
	return p
}

// showJob returns scontrol's lines for "show job id" (the lines that start with JobId=, or the
// JSON document of a --json session) when a session answered cleanly with at least one such
// line; ok is false otherwise.
func (p *scontrolPool) showJob(ctx context.Context, id int64) (lines []string, ok bool) {
	s, err := p.acquire(ctx)
	if err != nil {
		return nil, false
	}
	lines, err = s.showJob(ctx, id, p.queryTimeout)
	p.release(s, err)
	if err != nil || len(lines) == 0 {
		return nil, false
	}
	p.answered.Add(1)
	return lines, true
}

// acquire returns an idle session, or starts one if the pool is not full, or waits up to
// sessionAcquireWait for one to be released.
func (p *scontrolPool) acquire(ctx context.Context) (*scontrolSession, error) {
	if p.isClosed() {
		return nil, errSessionBroken
	}
	select { // an idle session first: start a new one only when none is
	case s := <-p.idle:
		return s, nil
	default:
	}
	slots := p.slots
	if p.paused() {
		slots = nil // no new session for now; a running one may still be released
	}
	wait := time.NewTimer(sessionAcquireWait)
	defer wait.Stop()
	select {
	case s := <-p.idle:
		return s, nil
	case <-slots:
		return p.start()
	case <-wait.C:
		return nil, fmt.Errorf("%w: no session free within %s", errSessionBroken, sessionAcquireWait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// start starts a session in the slot the caller took, or gives the slot back.
func (p *scontrolPool) start() (*scontrolSession, error) {
	if p.isClosed() {
		p.slots <- struct{}{}
		return nil, errSessionBroken
	}
	var flags []string
	if p.flags != nil {
		flags = p.flags(true)
	}
	s, err := startScontrolSession(p.path, p.env, flags...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.pause = 0
		return s, nil
	}
	p.slots <- struct{}{}
	// A scontrol that cannot start (configless and slurmctld down, a wrapper that does not read
	// commands) is left alone for a while, doubling up to sessionMaxPause; reads meanwhile
	// start their own scontrol.
	p.pause = min(max(2*p.pause, sessionMinPause), sessionMaxPause)
	p.pauseTo = time.Now().Add(p.pause)
	p.logger.Warn("scontrol session did not start; job state reads start their own scontrol for a while",
		"scontrol", p.path, "error", err, "retry_in", p.pause)
	return nil, err
}

// release gives s back to the pool, or ends it (freeing its slot) when err says it is broken,
// it has served its share, or the pool is closed.
func (p *scontrolPool) release(s *scontrolSession, err error) {
	healthy := err == nil || errors.Is(err, errUnclean)
	current := p.flags == nil || slices.Equal(p.flags(false), s.flags)
	if healthy && current && s.queries < sessionMaxQueries && time.Since(s.started) < sessionMaxAge && !p.isClosed() {
		p.idle <- s
		// Close may have run between the check and the send: drain what it missed.
		if p.isClosed() {
			p.drain()
		}
		return
	}
	if !healthy {
		p.logger.Debug("scontrol session ended", "error", err, "stderr", s.stderrTail())
	}
	p.end(s)
}

// end kills s and frees its slot.
func (p *scontrolPool) end(s *scontrolSession) {
	if !s.kill() {
		p.logger.Warn("scontrol session did not exit after SIGKILL; it is reaped when it does",
			"pid", s.cmd.Process.Pid, "waited", sessionKillWait)
	}
	p.slots <- struct{}{}
}

// isClosed reports whether close was called.
func (p *scontrolPool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// paused reports whether starting sessions is paused after failed starts.
func (p *scontrolPool) paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Now().Before(p.pauseTo)
}

// drain ends the idle sessions.
func (p *scontrolPool) drain() {
	for {
		select {
		case s := <-p.idle:
			p.end(s)
		default:
			return
		}
	}
}

// close ends the idle sessions; busy ones are ended when released. Reads after close report
// ok=false.
func (p *scontrolPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.drain()
}

// scontrolSession is one interactive scontrol -o process. Each command is followed by "show
// hostnames <nonce>", a local command that prints the fresh random nonce alone on a line: that
// line, which no job's output can forge, ends the command's answer. Not safe for concurrent
// use: the pool hands it to one reader at a time.
type scontrolSession struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	lines   chan string // standard output, line by line; closed at EOF
	stderr  *tailBuffer
	flags   []string // the flags it was started with
	queries int
	started time.Time
	waited  chan struct{} // closed once the process was reaped
}

// startScontrolSession starts program with flags and -o as the agent, in a process group of its
// own (a terminal's Ctrl-C is for the agent, which stops its readers first), and checks that it
// answers a nonce. If the agent dies, scontrol reads end-of-file and exits.
func startScontrolSession(program string, env []string, flags ...string) (*scontrolSession, error) {
	cmd := exec.Command(program, append(flags, "-o")...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		_ = in.Close()
		return nil, err
	}
	s := &scontrolSession{cmd: cmd, in: in, lines: make(chan string, 64), stderr: &tailBuffer{max: 2048},
		waited: make(chan struct{}), started: time.Now(), flags: flags}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", program, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		_ = cmd.Wait()
		close(s.waited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), sessionStartTimeout)
	defer cancel()
	if _, err := s.exchange(ctx, ""); err != nil && !errors.Is(err, errUnclean) {
		tail := s.stderrTail()
		s.kill()
		return nil, fmt.Errorf("%s -o did not answer as interactive scontrol: %w (stderr: %q)", program, err, tail)
	}
	return s, nil
}

// showJob sends "show job id" and returns the lines that start with JobId=. An answer with any
// other line is errUnclean (the session stays in step); anything else is errSessionBroken.
func (s *scontrolSession) showJob(ctx context.Context, id int64, timeout time.Duration) ([]string, error) {
	s.queries++
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.exchange(ctx, "show job "+strconv.FormatInt(id, 10))
}

// exchange sends command (none when empty) and a fresh nonce, and collects the JobId= lines
// printed before the nonce comes back.
func (s *scontrolSession) exchange(ctx context.Context, command string) ([]string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := "jbg" + hex.EncodeToString(b[:])
	msg := "show hostnames " + nonce + "\n"
	if command != "" {
		msg = command + "\n" + msg
	}
	if _, err := io.WriteString(s.in, msg); err != nil {
		return nil, fmt.Errorf("%w: %w", errSessionBroken, err)
	}
	var jobs []string
	unclean := false
	size := 0 // bytes kept: past maxSessionAnswer the answer is read on but not kept
	// A --json session answers with a JSON document: every line of it is the answer, and none
	// can be the nonce line (JSON escapes newlines in values, and a bare word is not JSON).
	asJSON := slices.Contains(s.flags, "--json")
	for {
		line, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		line = stripPrompts(line)
		switch trimmed := strings.TrimSpace(line); {
		case trimmed == nonce:
			if unclean {
				return nil, fmt.Errorf("%w: %d job line(s) and other output", errUnclean, len(jobs))
			}
			return jobs, nil
		case trimmed == "" || trimmed == command || trimmed == "show hostnames "+nonce:
			// a bare prompt, or readline's echo of what was sent
		case asJSON || strings.HasPrefix(line, "JobId="):
			if size += len(line); size > maxSessionAnswer {
				unclean, jobs = true, nil // read by a scontrol of its own, which has its own bound
				continue
			}
			jobs = append(jobs, line)
		default:
			unclean = true
		}
	}
}

// next returns the next output line, or errSessionBroken when the process ended or ctx did
// (the session then holds an unread answer and cannot be reused).
func (s *scontrolSession) next(ctx context.Context) (string, error) {
	select {
	case line, ok := <-s.lines:
		if !ok {
			return "", fmt.Errorf("%w: scontrol exited", errSessionBroken)
		}
		return line, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", errSessionBroken, ctx.Err())
	}
}

// kill ends the process (and anything it started: its process group, unless it was already
// reaped and its ids may belong to others) and waits up to sessionKillWait for it to be
// reaped; it reports whether it was.
func (s *scontrolSession) kill() bool {
	_ = s.in.Close()
	select {
	case <-s.waited:
		return true
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Process.Kill()
	go func() { // the reader exits at EOF; unblock it if it waits on a full channel
		for range s.lines {
		}
	}()
	select {
	case <-s.waited:
		return true
	case <-time.After(sessionKillWait):
		return false
	}
}

func (s *scontrolSession) stderrTail() string { return s.stderr.String() }

// stripPrompts removes the prompts interactive scontrol puts in front of a line.
func stripPrompts(line string) string {
	for strings.HasPrefix(line, scontrolPrompt) {
		line = line[len(scontrolPrompt):]
	}
	return line
}

// tailBuffer keeps the last max bytes written to it. Safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
