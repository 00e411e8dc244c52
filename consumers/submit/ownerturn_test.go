package submit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// busyWait admits one more delivery of owner, which must be refused, and returns its wait.
func busyWait(t *testing.T, l *ownerLimits, owner string) time.Duration {
	t.Helper()
	_, err := l.admit(context.Background(), owner)
	var busy *ownerBusyError
	if !errors.As(err, &busy) || !errors.Is(err, errOwnerBusy) {
		t.Fatalf("admit: %v, want an ownerBusyError", err)
	}
	return busy.wait
}

// Deliveries refused admission get turns as far apart as the owner's admissions come free, so
// they come back one by one; admissions that do not end space the turns out, up to maxTurnWait;
// the gap follows the admissions that end.
func TestOwnerTurns(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	l := newOwnerLimits(2, 100, 0, 1, 1<<20, clock.Now)
	var held []*admission
	for range 2 {
		a, err := l.admit(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, a)
	}
	// Nothing has ended yet: turns initialGap (5 ms) apart, none sooner than minTurnWait (20 ms).
	ms := time.Millisecond
	for i, want := range []time.Duration{20 * ms, 20 * ms, 20 * ms, 20 * ms, 25 * ms, 30 * ms} {
		if got := busyWait(t, l, "alice"); got != want {
			t.Errorf("turn %d at once: wait %s, want %s", i+1, got, want)
		}
	}
	if b, err := l.admit(context.Background(), "bob"); err != nil {
		t.Errorf("bob refused while alice's share is in use: %v", err)
	} else {
		b.done()
	}
	// Alice's two admissions hang (a stopped sbatch) for 1 s: turns 1 s apart.
	clock.Advance(time.Second)
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if got := busyWait(t, l, "alice"); got != want {
			t.Errorf("turn %d after 1 s: wait %s, want %s", i+1, got, want)
		}
	}
	clock.Advance(20 * time.Second)
	if got := busyWait(t, l, "alice"); got != maxTurnWait {
		t.Errorf("after 21 s: wait %s, want the bound %s", got, maxTurnWait)
	}
	// An admission ending 21 s after the entry was made moves the gap from 5 ms to
	// 5+(21000-5)/8 = 2629.375 ms.
	held[0].done()
	if got, want := l.owners["alice"].gap, 2629375*time.Microsecond; got != want {
		t.Errorf("mean gap %s, want %s", got, want)
	}
	held[1].done()
	if _, ok := l.owners["alice"]; ok {
		t.Error("alice's entry kept after her last admission ended")
	}
}
