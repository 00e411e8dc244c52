package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
var clockTicks = func() float64 {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}()

// procCPU is the CPU time of one process: its own (user+system) and that of its children it
// waited for (the commands it ran).
type procCPU struct{ self, children time.Duration }

// readProcCPU reads /proc/<pid>/stat; ok is false when the process is gone.
func readProcCPU(pid int) (procCPU, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procCPU{}, false
	}
	// The command name (field 2) may hold spaces: fields are counted after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return procCPU{}, false
	}
	tick := func(i int) time.Duration { // i: field number in proc(5), 14 = utime
		v, _ := strconv.ParseFloat(f[i-3], 64)
		return time.Duration(v / clockTicks * float64(time.Second))
	}
	return procCPU{self: tick(14) + tick(15), children: tick(16) + tick(17)}, true
}

// machineCPU is the whole machine's CPU time from /proc/stat (all CPUs): busy (user, nice,
// system, irq, softirq, steal) and idle (idle, iowait).
type machineCPU struct{ busy, idle time.Duration }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}
	}
	var m machineCPU
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseFloat(v, 64)
		d := time.Duration(n / clockTicks * float64(time.Second))
		if i == 3 || i == 4 {
			m.idle += d
		} else {
			m.busy += d
		}
	}
	return m
}

// liveChildrenCPU sums the CPU time (own and reaped children's) of pid's running children.
func liveChildrenCPU(pid int) time.Duration {
	var sum time.Duration
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, c := range strings.Fields(string(b)) {
			child, _ := strconv.Atoi(c)
			if cpu, ok := readProcCPU(child); ok {
				sum += cpu.self + cpu.children
			}
		}
	}
	return sum
}

// daemonCPU sums the CPU time of the running processes with these exact names.
func daemonCPU(names ...string) time.Duration {
	var sum time.Duration
	for _, n := range names {
		out, _ := exec.Command("pgrep", "-x", n).Output()
		for _, p := range strings.Fields(string(out)) {
			pid, _ := strconv.Atoi(p)
			if c, ok := readProcCPU(pid); ok {
				sum += c.self
			}
		}
	}
	return sum
}

// cpuSnap is the CPU time of the parties of a benchmark phase at one moment.
type cpuSnap struct {
	agent  procCPU       // the agent process (zero in a bare phase)
	test   procCPU       // this test process (bare sbatch runs as its children)
	slurm  time.Duration // slurmctld and munged
	mach   machineCPU    // every process on the machine
	taken  bool
	hasAgt bool
}

func takeCPU(agentPid int) cpuSnap {
	s := cpuSnap{taken: true, slurm: daemonCPU("slurmctld", "munged"), mach: readMachineCPU()}
	if agentPid > 0 {
		s.agent, s.hasAgt = readProcCPU(agentPid)
		// Long-lived children (the state-reading scontrol sessions) count only once reaped:
		// add what the running ones used so far. One that exits between two snapshots moves
		// its whole time into children, so the difference stays right.
		s.agent.children += liveChildrenCPU(agentPid)
	}
	s.test, _ = readProcCPU(os.Getpid())
	return s
}

// cpuUse is what a phase cost, from two snapshots.
type cpuUse struct {
	agentSelf, commands, slurm, test time.Duration
	// busy and idle are the whole machine's (all CPUs), whoever used it.
	busy, idle time.Duration
}

// plus adds v's times to u's.
func (u cpuUse) plus(v cpuUse) cpuUse {
	return cpuUse{agentSelf: u.agentSelf + v.agentSelf, commands: u.commands + v.commands, slurm: u.slurm + v.slurm,
		test: u.test + v.test, busy: u.busy + v.busy, idle: u.idle + v.idle}
}

// busyShare is the share of the machine's CPU time that was busy, from 0 to 1.
func (u cpuUse) busyShare() float64 {
	if u.busy+u.idle <= 0 {
		return 0
	}
	return float64(u.busy) / float64(u.busy+u.idle)
}

func cpuBetween(a, b cpuSnap) cpuUse {
	u := cpuUse{slurm: b.slurm - a.slurm, test: b.test.self - a.test.self,
		busy: b.mach.busy - a.mach.busy, idle: b.mach.idle - a.mach.idle}
	if a.hasAgt && b.hasAgt {
		u.agentSelf = b.agent.self - a.agent.self
		u.commands = b.agent.children - a.agent.children
	}
	u.commands += b.test.children - a.test.children
	return u
}
