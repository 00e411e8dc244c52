package submit

import (
	"errors"
	"strings"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// RejectionError is a permanent problem of a submission: the handler reports it to the API as
// REJECTED with Message as the report_message (word for word what the submitter reads), instead
// of retrying. Check for it with errors.As.
type RejectionError struct {
	Message string
}

func (e *RejectionError) Error() string { return "submission rejected: " + e.Message }

func rejection(message string) *RejectionError { return &RejectionError{Message: message} }

// Base messages of the rejection reports (the reference's wording, spec 8.4, and this agent's
// own for the checks it adds).
const (
	msgUnmapped   = "Username could not be resolved from owner email"
	msgBadDir     = "Execution directory is invalid"
	msgFiles      = "Error processing job-script files"
	msgSbatch     = "Failed to submit job to slurm"
	msgNoEntry    = "Could not find an executable script in retrieved job script data."
	msgNoSupports = "Job submission rejected. The submission has supporting files that can't be downloaded to the execution dir. Set `WRITE_SUBMISSION_FILES` setting to `True` to download the job script files to the execution dir."
	msgBadUser    = "Local user is not allowed to submit jobs"
	msgBadArgs    = "Invalid sbatch arguments"
)

// writeRejection returns the rejection for a WriteFile failure that is the submission's fault
// (the write was refused to the user's identity, or the name is refused), nil for any other.
func writeRejection(err error) *RejectionError {
	var we *slurm.FileWriteError
	if errors.As(err, &we) || errors.Is(err, slurm.ErrInvalidFileName) {
		return rejection(msgFiles + " -- " + err.Error())
	}
	return nil
}

// transientSbatch are the messages Slurm itself gives (slurm_strerror) for a submission that
// failed because slurmctld could not be reached or was busy, as sbatch prints them after its
// "Batch job submission failed: " prefix: retried, never rejected. Only the whole message
// counts, so no text a submitter controls (a partition or account name echoed in another error
// line) can make a refused job look transient.
var transientSbatch = map[string]bool{
	"Socket timed out on send/recv operation":                       true,
	"Unable to contact slurm controller (connect failure)":          true,
	"Resource temporarily unavailable":                              true,
	"Zero Bytes were transmitted or received":                       true,
	"Communication connection failure":                              true,
	"Slurm backup controller in standby mode":                       true,
	"Slurm temporarily unable to accept job, sleeping and retrying": true,
	"Slurmctld is busy, try again later":                            true,
	"Connection refused":                                            true,
}

// sbatchFailedPrefix starts sbatch's own line saying why slurmctld refused or failed the job.
const sbatchFailedPrefix = "sbatch: error: Batch job submission failed: "

// transientSbatchFailure reports whether sbatch exited 1 with a "Batch job submission failed"
// line whose message is one of transientSbatch.
func transientSbatchFailure(ce *slurm.CommandError) bool {
	if ce.ExitCode != 1 {
		return false
	}
	for _, line := range strings.Split(ce.Stderr, "\n") {
		if msg, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), sbatchFailedPrefix); ok && transientSbatch[strings.TrimSpace(msg)] {
			return true
		}
	}
	return false
}

// sbatchRejection returns the rejection for an sbatch failure that is the submission's fault
// (sbatch ran and refused the job), with sbatch's stderr verbatim; nil for failures to retry (transient controller errors, decided on sbatch's exit status and its own
// error line, not on text the submitter controls; sbatch not started or killed, cancelled,
// unparsable output: the job may exist and is found by marker on the next attempt).
func sbatchRejection(err error) *RejectionError {
	var ce *slurm.CommandError
	if !errors.As(err, &ce) || transientSbatchFailure(ce) {
		return nil
	}
	detail := strings.TrimRight(ce.Stderr, "\n")
	if strings.TrimSpace(detail) == "" {
		detail = ce.Error()
	}
	return rejection(msgSbatch + " -- " + detail)
}
