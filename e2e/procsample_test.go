package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procSampler records, every few milliseconds, the peak resident memory (VmHWM) and CPU time of
// every descendant of a process, so that a benchmark can tell the peak RSS of each command a
// process ran. A command that lives shorter than the period may be missed or seen before its
// peak: the period is printed with the figures.
type procSampler struct {
	root   int
	period time.Duration
	stop   chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	procs map[int]*sampledProc
}

// sampledProc is what the sampler saw of one process.
type sampledProc struct {
	comm   string
	hwm    int64 // bytes
	cpu    time.Duration
	rounds int
}

// startProcSampler samples root's descendants every period until stopped.
func startProcSampler(root int, period time.Duration) *procSampler {
	s := &procSampler{root: root, period: period, stop: make(chan struct{}), done: make(chan struct{}),
		procs: map[int]*sampledProc{}}
	go s.loop()
	return s
}

func (s *procSampler) loop() {
	defer close(s.done)
	t := time.NewTicker(s.period)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *procSampler) sample() {
	for _, pid := range descendants(s.root) {
		hwm, ok := vmHWM(pid)
		if !ok {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		cpu, _ := readProcCPU(pid)
		s.mu.Lock()
		p := s.procs[pid]
		if p == nil || p.comm != strings.TrimSpace(string(comm)) { // a new process under a reused pid
			p = &sampledProc{comm: strings.TrimSpace(string(comm))}
			s.procs[pid] = p
		}
		p.hwm = max(p.hwm, hwm)
		p.cpu = max(p.cpu, cpu.self)
		p.rounds++
		s.mu.Unlock()
	}
}

// reset forgets what was seen so far.
func (s *procSampler) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = map[int]*sampledProc{}
}

// end stops the sampler.
func (s *procSampler) end() {
	close(s.stop)
	<-s.done
}

// commandPeak is the sampled figures of one command name.
type commandPeak struct {
	comm      string
	processes int
	maxRSS    int64         // the largest VmHWM of one process, bytes
	cpu       time.Duration // sampled CPU of all its processes (a lower bound for short ones)
}

// peaks returns the figures per command name seen since the last reset, largest RSS first.
func (s *procSampler) peaks() []commandPeak {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]*commandPeak{}
	for _, p := range s.procs {
		c := by[p.comm]
		if c == nil {
			c = &commandPeak{comm: p.comm}
			by[p.comm] = c
		}
		c.processes++
		c.maxRSS = max(c.maxRSS, p.hwm)
		c.cpu += p.cpu
	}
	out := make([]commandPeak, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].maxRSS > out[j].maxRSS })
	return out
}

// String prints the peaks as "name xN max RSS MB, CPU s; ...".
func formatPeaks(ps []commandPeak) string {
	if len(ps) == 0 {
		return "none seen"
	}
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s x%d peak %.1f MB, CPU %.3f s", p.comm, p.processes, float64(p.maxRSS)/1e6, p.cpu.Seconds()))
	}
	return strings.Join(parts, "; ")
}

// descendants returns the pids of pid's children, their children and so on.
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", p, t.Name()))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// vmHWM returns a process's peak resident set size in bytes; ok is false when it is gone.
func vmHWM(pid int) (int64, bool) { return procStatusBytes(pid, "VmHWM:") }

// vmRSS returns a process's current resident set size in bytes.
func vmRSS(pid int) (int64, bool) { return procStatusBytes(pid, "VmRSS:") }

// procStatusBytes reads one kB figure of /proc/<pid>/status (key with its colon) in bytes; ok is
// false when the process is gone or has no such line.
func procStatusBytes(pid int, key string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}
