package submit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// NewHolderID returns a claim holder id unique to this process's life:
// "<host>/<pid>/<pid namespace>/<random>". A restarted agent, even one that gets the same pid
// (an agent that is pid 1 of a container), never takes its predecessor's claims for its own;
// LocalHolderGone can read the host, pid and namespace back.
func NewHolderID() string {
	host, _ := os.Hostname()
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	return fmt.Sprintf("%s/%d/%s/%s", host, os.Getpid(), pidNamespace(), hex.EncodeToString(nonce[:]))
}

// pidNamespace identifies this process's pid namespace ("pid:[4026531836]" -> "4026531836"),
// empty when it cannot be read.
func pidNamespace() string {
	l, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(l, "pid:["), "]")
}

// LocalHolderGone reports whether the process that holds a claim certainly can no longer create
// the submission's Slurm job: holder (a NewHolderID) ran on this host in this pid namespace, no
// process has its pid any more, and no process on the host carries the claim's marker in a
// --comment argument (an sbatch the dead agent started runs in its own session and outlives it). In
// every other case, including a holder id it cannot read, it returns false and the caller waits
// for the claim to go stale. A pid taken since by another process also gives false: safe, only
// slower.
func LocalHolderGone(holder, marker string) bool {
	parts := strings.Split(holder, "/")
	if len(parts) != 4 {
		return false
	}
	host, _ := os.Hostname()
	ns := pidNamespace()
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 || parts[0] != host || ns == "" || parts[2] != ns {
		return false
	}
	if _, err := os.Stat("/proc/" + parts[1]); err == nil || !os.IsNotExist(err) {
		return false
	}
	running, err := markerRunning(marker)
	return err == nil && !running
}

// markerRunning reports whether any process's arguments include a --comment whose words hold
// marker (the sbatch that submits the claim).
func markerRunning(marker string) (bool, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue // gone meanwhile, or not readable: a kernel thread
		}
		if commentArgHas(cmdline, marker) {
			return true, nil
		}
	}
	return false, nil
}

// commentArgHas reports whether the NUL-separated argument list cmdline holds a --comment=
// argument whose words include marker.
func commentArgHas(cmdline []byte, marker string) bool {
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		if c, ok := strings.CutPrefix(arg, "--comment="); ok && slurm.CommentHasMarker(c, marker) {
			return true
		}
	}
	return false
}
