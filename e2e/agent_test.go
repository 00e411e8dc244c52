package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// agentPkg is the import path of the binary under test.
const agentPkg = "github.com/omnivector-solutions/jobbergate-agent-go/cmd/jobbergate-agent"

// binEnv names an existing agent binary to test instead of building one.
const binEnv = "JBG_E2E_AGENT_BIN"

// logDirEnv names a directory where the agents' logs are kept after the test (default: a
// temporary directory removed at the end).
const logDirEnv = "JBG_E2E_LOG_DIR"

// built is the agent binary built once per test run (agentBinary), removed by TestMain.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// agentBinary returns the agent binary: $JBG_E2E_AGENT_BIN when set, else one built with
// `go build` from this module's source once per test run (so the test never runs a stale
// bin/jobbergate-agent).
func agentBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(binEnv); p != "" {
		return p
	}
	built.once.Do(func() {
		// go test puts its own GOROOT/bin first in the test's PATH.
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("build the agent: %w", err)
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "jbg-e2e-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "jobbergate-agent")
		out, err := exec.Command(goTool, "build", "-o", built.path, agentPkg).CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build %s: %w\n%s", agentPkg, err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// agentProc is one agent "service": the binary run with a fixed environment, started, killed
// and restarted by the test. Each start writes its own log file. Its methods are safe for
// concurrent use.
type agentProc struct {
	t      testing.TB
	name   string
	bin    string
	env    []string
	logDir string
	// envFile, when set, is passed as --env-file (else "none": settings from env only).
	envFile string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
	waitErr  error
	expected bool // the current process is being stopped or killed by the test
	starts   int
	kills    int
	crashed  []string // unexpected exits
}

// newAgent returns an agent that is not running yet; it is stopped when the test ends.
// env is the complete JOBBERGATE_AGENT_* environment (added to a minimal PATH/HOME).
func newAgent(t testing.TB, name string, env []string) *agentProc {
	t.Helper()
	logDir := t.TempDir()
	if d := os.Getenv(logDirEnv); d != "" {
		logDir = filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := &agentProc{t: t, name: name, bin: agentBinary(t), logDir: logDir,
		env: append([]string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root", "LANG=C"}, env...)}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			a.dumpLog(60)
		}
	})
	return a
}

// start runs a new agent process. It fails the test if one is already running.
func (a *agentProc) start() {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil {
		a.t.Fatalf("%s: start while running", a.name)
	}
	a.starts++
	f, err := os.Create(a.logPath(a.starts))
	if err != nil {
		a.t.Fatal(err)
	}
	envFile := a.envFile
	if envFile == "" {
		envFile = "none"
	}
	cmd := exec.Command(a.bin, "--env-file", envFile, "run")
	cmd.Env = a.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		a.t.Fatalf("%s: start agent: %v", a.name, err)
	}
	done := make(chan struct{})
	a.cmd, a.done, a.expected = cmd, done, false
	go func() {
		err := cmd.Wait()
		f.Close()
		a.mu.Lock()
		defer a.mu.Unlock()
		a.waitErr = err
		if !a.expected {
			a.crashed = append(a.crashed, fmt.Sprintf("start %d (pid %d): %v", a.starts, cmd.Process.Pid, err))
		}
		close(done)
	}()
}

func (a *agentProc) logPath(n int) string {
	return filepath.Join(a.logDir, fmt.Sprintf("%s-%d.log", a.name, n))
}

// kill sends SIGKILL to the running process and waits for it to be gone.
func (a *agentProc) kill() {
	a.t.Helper()
	done := a.signal(syscall.SIGKILL)
	if done == nil {
		a.t.Fatalf("%s: kill while not running", a.name)
	}
	<-done
	a.mu.Lock()
	a.kills++
	a.cmd = nil
	a.mu.Unlock()
}

// stop sends SIGTERM and waits up to a minute for a graceful exit, then kills. It does nothing
// when no process runs.
func (a *agentProc) stop() {
	done := a.signal(syscall.SIGTERM)
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		a.t.Errorf("%s: no exit within a minute of SIGTERM; killing it", a.name)
		_ = a.signal(syscall.SIGKILL)
		<-done
	}
	a.mu.Lock()
	a.cmd = nil
	a.mu.Unlock()
}

// signal marks the current process's exit as expected and signals it; it returns the channel
// closed at its exit, nil when none runs.
func (a *agentProc) signal(sig syscall.Signal) chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return nil
	}
	a.expected = true
	_ = a.cmd.Process.Signal(sig)
	return a.done
}

// unexpectedExits lists the processes that exited without being stopped or killed by the test.
func (a *agentProc) unexpectedExits() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.crashed...)
}

// counts returns how many processes were started and killed.
func (a *agentProc) counts() (starts, kills int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.starts, a.kills
}

// dumpLog logs the last n lines of the latest log, and of any log whose process exited on its
// own, to help read a failure.
func (a *agentProc) dumpLog(n int) {
	a.mu.Lock()
	last := a.starts
	a.mu.Unlock()
	if last == 0 {
		return
	}
	lines, err := tail(a.logPath(last), n)
	if err != nil {
		a.t.Logf("%s: %v", a.name, err)
		return
	}
	a.t.Logf("%s: last %d lines of %s:\n%s", a.name, len(lines), a.logPath(last), strings.Join(lines, "\n"))
}

// startCount returns how many processes were started.
func (a *agentProc) startCount() int {
	s, _ := a.counts()
	return s
}

// currentLogCount counts the lines containing s in the log of the latest start.
func (a *agentProc) currentLogCount(s string) int {
	a.mu.Lock()
	last := a.starts
	a.mu.Unlock()
	return a.countInLogs(s, last, last)
}

// countInLogs counts the lines containing s in the logs of starts first..last.
func (a *agentProc) countInLogs(s string, first, last int) int {
	n := 0
	for i := first; i <= last; i++ {
		f, err := os.Open(a.logPath(i))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), s) {
				n++
			}
		}
		f.Close()
	}
	return n
}

func tail(path string, n int) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return nil, errors.New("empty log " + path)
	}
	return lines, nil
}

// pid returns the running agent's process id, 0 when none runs.
func (a *agentProc) pid() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil || a.cmd.Process == nil {
		return 0
	}
	return a.cmd.Process.Pid
}
