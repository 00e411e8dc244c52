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

	// A live process carrying a claim's marker after the user's comment, as an orphaned sbatch would.
	const running = "jobbergate-submission:4242:0123456789abcdef0123456789abcdef"
	sbatch := exec.Command("/bin/sh", "-c", "sleep 30", "sh", "--parsable", "--comment=my run "+running)
	if err := sbatch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sbatch.Process.Kill(); _ = sbatch.Wait() })

	for _, tc := range []struct {
		name   string
		holder string
		marker string
		want   bool
	}{
		{"exited holder, no sbatch left", holder(host, dead, ns), "jobbergate-submission:4243:00", true},
		{"exited holder, its sbatch still running", holder(host, dead, ns), running, false},
		{"a marker that only starts like this one", holder(host, dead, ns), "jobbergate-submission:4242:0123", true},
		{"another claim of the same submission", holder(host, dead, ns), "jobbergate-submission:4242", true},
		{"holder alive", holder(host, os.Getpid(), ns), "jobbergate-submission:4243:00", false},
		{"other host", holder(host+"-other", dead, ns), "jobbergate-submission:4243:00", false},
		{"other pid namespace", holder(host, dead, "1"), "jobbergate-submission:4243:00", false},
		{"old holder format", fmt.Sprintf("%s.%d", host, dead), "jobbergate-submission:4243:00", false},
		{"garbage", "x/y/z/w", "jobbergate-submission:4243:00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LocalHolderGone(tc.holder, tc.marker); got != tc.want {
				t.Errorf("LocalHolderGone(%q, %q) = %v, want %v", tc.holder, tc.marker, got, tc.want)
			}
		})
	}
}

func TestCommentArgHas(t *testing.T) {
	cmd := []byte("sbatch\x00--parsable\x00--comment=my own words jobbergate-submission:12:ab\x00--job-name=jobbergate-submission:13:ab\x00")
	for marker, want := range map[string]bool{
		"jobbergate-submission:12:ab": true,
		"jobbergate-submission:12":    false,
		"jobbergate-submission:12:a":  false,
		"own":                         true,
		"jobbergate-submission:13:ab": false, // not in a --comment argument
	} {
		if got := commentArgHas(cmd, marker); got != want {
			t.Errorf("commentArgHas(%q) = %v, want %v", marker, got, want)
		}
	}
}
