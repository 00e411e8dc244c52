package broker

// Header names the agent puts on its messages. They are shared by the bridge (which sets them),
// the consumers (which read them) and the dead-letter copies.
const (
	// HeaderSubmissionID carries the Jobbergate submission id a message is about.
	HeaderSubmissionID = "Jbg-Submission-Id"
	// HeaderRequeued counts how many times a deferred message was requeued (consumers.Defer):
	// its copy starts again at one delivery, this header keeps the history.
	HeaderRequeued = "Jbg-Requeued"

	// HeaderDeadReason is the reason a message was dead-lettered.
	HeaderDeadReason = "Jbg-Dead-Reason"
	// HeaderDeadStream is the stream the dead-lettered message came from.
	HeaderDeadStream = "Jbg-Dead-Stream"
	// HeaderDeadConsumer is the consumer that gave up on the message.
	HeaderDeadConsumer = "Jbg-Dead-Consumer"
	// HeaderDeadSequence is the original stream sequence of the message.
	HeaderDeadSequence = "Jbg-Dead-Sequence"
	// HeaderDeadSubject is the original subject of the message.
	HeaderDeadSubject = "Jbg-Dead-Subject"
	// HeaderDeadDeliveries is how many times the message had been delivered.
	HeaderDeadDeliveries = "Jbg-Dead-Deliveries"
	// HeaderDeadAt is when the message was dead-lettered (RFC 3339, UTC).
	HeaderDeadAt = "Jbg-Dead-At"
)
