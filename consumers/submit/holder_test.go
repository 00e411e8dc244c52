package submit

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// exitedPID returns the pid of a process that has exited (and been reaped).
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestNewHolderIDIsUniquePerProcessLife(t *testing.T) {
	a, b := NewHolderID(), NewHolderID()
	if a == b {
		t.Fatalf("two holder ids of one process are equal: %s", a)
	}
	host, _ := os.Hostname()
	if parts := strings.Split(a, "/"); len(parts) != 4 || parts[0] != host || parts[1] != fmt.Sprint(os.Getpid()) || parts[2] == "" {
		t.Errorf("holder id %q: want host/pid/pidns/random", a)
	}
}

func TestLocalHolderGone(t *testing.T) {
	testenv.Require(t, "procfs", pidNamespace() != "", "/proc/self/ns/pid is not readable")
	host, _ := os.Hostname()
	ns := pidNamespace()
	holder := func(host string, pid int, ns string) string { return fmt.Sprintf("%s/%d/%s/abcdef", host, pid, ns) }
	dead := exitedPID(t)

	// A live process carrying submission 4242's marker, as an orphaned sbatch would.
	sbatch := exec.Command("/bin/sh", "-c", "sleep 30", "sh", "--parsable", "--comment=jobbergate-submission:4242")
	if err := sbatch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sbatch.Process.Kill(); _ = sbatch.Wait() })

	for _, tc := range []struct {
		name   string
		holder string
		sub    int
		want   bool
	}{
		{"exited holder, no sbatch left", holder(host, dead, ns), 4243, true},
		{"exited holder, its sbatch still running", holder(host, dead, ns), 4242, false},
		{"a marker that only starts like this one", holder(host, dead, ns), 424, true},
		{"holder alive", holder(host, os.Getpid(), ns), 4243, false},
		{"other host", holder(host+"-other", dead, ns), 4243, false},
		{"other pid namespace", holder(host, dead, "1"), 4243, false},
		{"old holder format", fmt.Sprintf("%s.%d", host, dead), 4243, false},
		{"garbage", "x/y/z/w", 4243, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LocalHolderGone(tc.holder, tc.sub); got != tc.want {
				t.Errorf("LocalHolderGone(%q, %d) = %v, want %v", tc.holder, tc.sub, got, tc.want)
			}
		})
	}
}

func TestContainsArg(t *testing.T) {
	cmd := []byte("sbatch\x00--parsable\x00--comment=jobbergate-submission:12\x00")
	for arg, want := range map[string]bool{
		"--comment=jobbergate-submission:12\x00": true,
		"--comment=jobbergate-submission:2\x00":  false,
		"sbatch\x00":                             true,
		"batch\x00":                              false,
		"--parsable\x00":                         true,
	} {
		if got := containsArg(cmd, []byte(arg)); got != want {
			t.Errorf("containsArg(%q) = %v, want %v", arg, got, want)
		}
	}
}
