// Package testenv holds the helpers that tests in every package share: deciding what to do when a
// real component (Slurm, InfluxDB, slapd, the nats CLI) is missing, polling for a condition
// instead of sleeping, a settable clock, the logger handed to the code under test, and a buffer
// safe for concurrent writers.
package testenv

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true). There a missing real component is a
// failure, never a skip.
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// Require stops the test when a real component is not available: it skips the test on a
// developer's machine and fails it under CI=true. why says what is missing and how to get it,
// for example "slurmctld is not running: run deploy/slurm/slurm-single-node.sh start".
func Require(t testing.TB, component string, available bool, why string) {
	t.Helper()
	if available {
		return
	}
	if InCI() {
		t.Fatalf("%s is required under CI=true but is missing: %s", component, why)
	}
	t.Skipf("%s not available: %s", component, why)
}

// Eventually polls cond every 10 ms until it returns true or timeout passes, in which case the test
// fails with msg. It is the replacement for sleeps in tests.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Lazy formats as its function's result when printed: an argument of Eventually's message (or
// any failure message) that shows the state at the failure, not when the message was built.
type Lazy func() string

// String returns l's result.
func (l Lazy) String() string { return l() }

// IsRoot reports whether the tests run as root, which the run-as-user tests need.
func IsRoot() bool { return os.Geteuid() == 0 }
