package submit

import (
	"time"
)

const (
	// initialGap is the time between two of an owner's admissions coming free that is assumed
	// before one of theirs ends.
	initialGap = 5 * time.Millisecond
	// minTurnWait and maxTurnWait bound how long a deferred delivery stays away.
	minTurnWait = 20 * time.Millisecond
	maxTurnWait = 10 * time.Second
)

// ownerBusyError is an admission refused at once (errOwnerBusy): the owner has as many
// submissions admitted and waiting as one owner may. Wait is how long the delivery should stay
// away, its turn (see ownerLimits.turn).
type ownerBusyError struct {
	owner string
	wait  time.Duration
}

func (e *ownerBusyError) Error() string {
	return "owner " + e.owner + ": " + errOwnerBusy.Error()
}

func (e *ownerBusyError) Unwrap() error { return errOwnerBusy }

// turn gives a delivery refused admission its place in a virtual queue of the owner's deferred
// deliveries and returns how long it should stay away. Turns are as far apart as the owner's
// admissions come free: the mean gap between the ends of their recent admissions, or the time
// since the last one ended when that is longer (admissions that do not end, such as a stopped
// sbatch, space the turns out). So each deferred delivery comes back about when an admission
// comes free for it, instead of all of them coming back again and again: a long burst of one
// owner costs about one deferral per delivery, and a stopped one little. The wait is bounded by
// minTurnWait and maxTurnWait. l.mu is held.
func (l *ownerLimits) turn(use *ownerUse, now time.Time) time.Duration {
	gap := max(use.gap, now.Sub(use.lastDone))
	next := now
	if use.turn.After(now) {
		next = use.turn
	}
	use.turn = next.Add(gap)
	return min(max(use.turn.Sub(now), minTurnWait), maxTurnWait)
}

// released records the end of one of the owner's admissions at now: the mean gap between ends
// follows it (an exponentially weighted mean, weight 1/8). l.mu is held.
func (l *ownerLimits) released(use *ownerUse, now time.Time) {
	use.admitted--
	l.total--
	use.gap += (now.Sub(use.lastDone) - use.gap) / 8
	use.lastDone = now
}
