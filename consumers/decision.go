package consumers

import (
	"fmt"
	"time"
)

type decisionKind int

const (
	kindAck decisionKind = iota
	kindRetry
	kindTerminate
	kindDefer
)

// Decision is what a handler wants done with a message. The zero value is Ack.
type Decision struct {
	kind   decisionKind
	delay  time.Duration
	err    error
	reason string
}

// Ack acknowledges the message: it is done and leaves the work queue.
func Ack() Decision { return Decision{kind: kindAck} }

// Retry asks for redelivery after an exponential backoff computed from the delivery count. err is
// the transient cause; it is logged and becomes the dead-letter reason if deliveries run out.
func Retry(err error) Decision { return Decision{kind: kindRetry, err: err} }

// RetryAfter asks for redelivery after d (for example a Retry-After from an API).
func RetryAfter(d time.Duration, err error) Decision {
	return Decision{kind: kindRetry, delay: d, err: err}
}

// Defer puts the message back for later without counting the delivery against it: the handler
// could not start on it for a reason that is not the message's fault (a share its owner is
// entitled to is in use), so deferring it any number of times never dead-letters it. It is
// redelivered after d (the Backoff's delay for its delivery count when d <= 0) while the
// message has used less than half of MaxDeliver; from then on the runner requeues it instead:
// a copy with a fresh delivery count is published at the end of the work queue and the original
// acknowledged (see the package doc). why is logged.
func Defer(d time.Duration, why string) Decision {
	return Decision{kind: kindDefer, delay: d, reason: why}
}

// Terminate gives up on the message: it is copied to the DEAD stream with reason and never
// redelivered.
func Terminate(reason string) Decision { return Decision{kind: kindTerminate, reason: reason} }

// String describes the decision for logs.
func (d Decision) String() string {
	switch d.kind {
	case kindRetry:
		if d.delay > 0 {
			return fmt.Sprintf("retry after %s", d.delay)
		}
		return "retry"
	case kindTerminate:
		return "terminate: " + d.reason
	case kindDefer:
		return "defer: " + d.reason
	default:
		return "ack"
	}
}

// IsAck, IsRetry, IsTerminate and IsDefer report the decision's kind (for tests and middleware).
func (d Decision) IsAck() bool       { return d.kind == kindAck }
func (d Decision) IsRetry() bool     { return d.kind == kindRetry }
func (d Decision) IsTerminate() bool { return d.kind == kindTerminate }
func (d Decision) IsDefer() bool     { return d.kind == kindDefer }

// Reason returns the terminate or defer reason, or the retry error's text.
func (d Decision) Reason() string {
	if d.kind == kindRetry && d.err != nil {
		return d.err.Error()
	}
	return d.reason
}

// RetryUnlessLast asks for a redelivery after err, or, on the message's last allowed delivery,
// terminates with err's text so that the dead letter says why it gave up.
func RetryUnlessLast(msg *Message, err error) Decision {
	if msg.LastAttempt() {
		return Terminate(fmt.Sprintf("giving up after %d deliveries: %v", msg.NumDelivered, err))
	}
	return Retry(err)
}
