package jobbergate

// SubmissionStatus is the status of a job submission as the API stores it.
type SubmissionStatus string

// Job submission statuses (the API's enum). Pending submissions are CREATED; active ones are
// SUBMITTED or CANCELLED.
const (
	StatusCreated   SubmissionStatus = "CREATED"
	StatusSubmitted SubmissionStatus = "SUBMITTED"
	StatusRejected  SubmissionStatus = "REJECTED"
	StatusDone      SubmissionStatus = "DONE"
	StatusAborted   SubmissionStatus = "ABORTED"
	StatusCancelled SubmissionStatus = "CANCELLED"
)

// SlurmJobState is a Slurm job state as the API accepts it in slurm_job_state.
type SlurmJobState string

// Slurm job states accepted by the API; any other value is answered with 422. StateUnknown is the
// agent's own state for a job Slurm no longer knows.
const (
	StateBootFail    SlurmJobState = "BOOT_FAIL"
	StateCancelled   SlurmJobState = "CANCELLED"
	StateCompleted   SlurmJobState = "COMPLETED"
	StateConfiguring SlurmJobState = "CONFIGURING"
	StateCompleting  SlurmJobState = "COMPLETING"
	StateDeadline    SlurmJobState = "DEADLINE"
	StateFailed      SlurmJobState = "FAILED"
	StateNodeFail    SlurmJobState = "NODE_FAIL"
	StateOutOfMemory SlurmJobState = "OUT_OF_MEMORY"
	StatePending     SlurmJobState = "PENDING"
	StatePreempted   SlurmJobState = "PREEMPTED"
	StateRunning     SlurmJobState = "RUNNING"
	StateResvDelHold SlurmJobState = "RESV_DEL_HOLD"
	StateRequeueFed  SlurmJobState = "REQUEUE_FED"
	StateRequeueHold SlurmJobState = "REQUEUE_HOLD"
	StateRequeued    SlurmJobState = "REQUEUED"
	StateResizing    SlurmJobState = "RESIZING"
	StateRevoked     SlurmJobState = "REVOKED"
	StateSignaling   SlurmJobState = "SIGNALING"
	StateSpecialExit SlurmJobState = "SPECIAL_EXIT"
	StateStageOut    SlurmJobState = "STAGE_OUT"
	StateStopped     SlurmJobState = "STOPPED"
	StateSuspended   SlurmJobState = "SUSPENDED"
	StateTimeout     SlurmJobState = "TIMEOUT"
	StateUnknown     SlurmJobState = "UNKNOWN"
)

// SlurmJobStates lists every state the API accepts, in the API's order.
var SlurmJobStates = []SlurmJobState{
	StateBootFail, StateCancelled, StateCompleted, StateConfiguring, StateCompleting,
	StateDeadline, StateFailed, StateNodeFail, StateOutOfMemory, StatePending, StatePreempted,
	StateRunning, StateResvDelHold, StateRequeueFed, StateRequeueHold, StateRequeued,
	StateResizing, StateRevoked, StateSignaling, StateSpecialExit, StateStageOut, StateStopped,
	StateSuspended, StateTimeout, StateUnknown,
}

// abortStates are the states after which the API marks a submission ABORTED (spec section 7).
var abortStates = map[SlurmJobState]bool{
	StateBootFail: true, StateCancelled: true, StateDeadline: true, StateFailed: true,
	StateNodeFail: true, StatePreempted: true, StateSpecialExit: true, StateTimeout: true,
	StateUnknown: true,
}

// Valid reports whether the API accepts s as a slurm_job_state.
func (s SlurmJobState) Valid() bool {
	for _, v := range SlurmJobStates {
		if v == s {
			return true
		}
	}
	return false
}

// IsAbort reports whether an update with this state makes the API mark the submission ABORTED.
// OUT_OF_MEMORY is deliberately not an abort state: the API keeps such a job active.
func (s SlurmJobState) IsAbort() bool { return abortStates[s] }

// IsDone reports whether an update with this state makes the API mark the submission DONE
// (COMPLETED only).
func (s SlurmJobState) IsDone() bool { return s == StateCompleted }

// IsTerminal reports whether the state ends the submission's life on the API side (abort or done).
func (s SlurmJobState) IsTerminal() bool { return s.IsAbort() || s.IsDone() }

// StatusAfterUpdate is the submission status the API sets after an agent update with state s
// (spec section 7): ABORTED for abort states, DONE for COMPLETED, current otherwise.
func StatusAfterUpdate(current SubmissionStatus, s SlurmJobState) SubmissionStatus {
	switch {
	case s.IsAbort():
		return StatusAborted
	case s.IsDone():
		return StatusDone
	default:
		return current
	}
}
