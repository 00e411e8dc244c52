package update

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/consumers/jobidentity"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// TestForeignJobNeverReadOutOrCancelled: a slurm_job_id from the API that is not the
// submission's job (another id than the one recorded, a job of another owner, a job carrying
// another submission's marker) is neither reported nor cancelled: the submission is reported
// UNKNOWN with a reason and ends ABORTED. The submission's own job is cancelled as its owner.
func TestForeignJobNeverReadOutOrCancelled(t *testing.T) {
	const marker = "jobbergate-submission:%d:0123456789abcdef0123456789abcdef"
	sl := newFakeSlurm()
	ids := identities{}
	e := newEnv(t, sl, func(o *Options) { o.Identities = ids })
	e.start(t)
	bobs := func(id int64, comment string) slurm.JobData {
		j := runningJob(id)
		j.UserID, j.Comment = 2000, comment
		j.JobInfo = `{"job_id":` + itoa(id) + `,"command":"/home/bob/secret-project/run.sh"}`
		return j
	}
	alices := func(id int64, comment string) slurm.JobData {
		j := runningJob(id)
		j.UserID, j.Comment = 1000, comment
		return j
	}
	// Recorded job 700, the API has bob's 701 (a restored database); cancelled in the portal.
	wrongID := addActive(e, "CANCELLED", ptr2(701))
	ids[wrongID] = jobidentity.Record{SubmissionID: wrongID, SlurmJobID: 700, Owner: "alice", OwnerUID: 1000}
	sl.set(bobs(701, ""))
	// Recorded job 702 is bob's in Slurm (the id came from elsewhere).
	notOwner := addActive(e, "SUBMITTED", ptr2(702))
	ids[notOwner] = jobidentity.Record{SubmissionID: notOwner, SlurmJobID: 702, Owner: "alice", OwnerUID: 1000}
	sl.set(bobs(702, ""))
	// No record (the Python agent's era), but the job carries another submission's marker.
	otherMarker := addActive(e, "SUBMITTED", ptr2(703))
	sl.set(bobs(703, strings.Replace(marker, "%d", "99999", 1)))
	// The submission's own job, cancelled in the portal: cancelled as alice.
	own := addActive(e, "CANCELLED", ptr2(704))
	ownMarker := strings.Replace(marker, "%d", itoa(int64(own)), 1)
	ids[own] = jobidentity.Record{SubmissionID: own, SlurmJobID: 704, Owner: "alice", OwnerUID: 1000, Marker: ownMarker}
	sl.set(alices(704, "my words "+ownMarker))

	e.runCycle(t)
	for _, id := range []int{wrongID, notOwner, otherMarker} {
		s := e.submission(t, id)
		if deref(s.SlurmJobState) != "UNKNOWN" || deref(s.SlurmJobInfo) != "{}" || s.Status != "ABORTED" ||
			!strings.Contains(deref(s.ReportMessage), "is not this submission's job") {
			t.Errorf("submission %d: state %q info %q status %s message %q; want UNKNOWN, {}, ABORTED and the reason",
				id, deref(s.SlurmJobState), deref(s.SlurmJobInfo), s.Status, deref(s.ReportMessage))
		}
	}
	if slices.Contains(sl.cancels, 701) || len(sl.cancelsAs) != 1 || sl.cancelsAs[0] != "alice:704" {
		t.Errorf("cancels %v, as a user %v; want only alice's own 704, as alice", sl.cancels, sl.cancelsAs)
	}
	if j := sl.jobs[701]; j.JobState != "RUNNING" {
		t.Errorf("bob's job 701 is %s; it must keep running", j.JobState)
	}
	if s := e.submission(t, own); deref(s.SlurmJobState) != "CANCELLED" {
		t.Errorf("own job: state %q, want CANCELLED", deref(s.SlurmJobState))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A job that ended OUT_OF_MEMORY (a state the API does not end a submission with) and that
// slurmctld no longer holds is reported UNKNOWN with its real final state in the reason, so the
// submission ends ABORTED instead of staying SUBMITTED for ever.
func TestEndedOutOfMemoryReachesFinalStatus(t *testing.T) {
	sl := newFakeSlurm()
	sl.accounting = map[int64]slurm.JobData{801: {JobID: 801, JobState: "OUT_OF_MEMORY", StateReason: "OutOfMemory",
		JobInfo: `{"JobIDRaw":"801","State":"OUT_OF_MEMORY"}`, UserID: -1}}
	e := newEnv(t, sl, nil)
	e.start(t)
	id := addActive(e, "SUBMITTED", ptr2(801))
	e.runCycle(t)
	s := e.submission(t, id)
	if s.Status != "ABORTED" || deref(s.SlurmJobState) != "UNKNOWN" ||
		!strings.Contains(deref(s.ReportMessage), "The job ended OUT_OF_MEMORY (OutOfMemory)") {
		t.Errorf("status %s state %s message %q; want ABORTED, UNKNOWN and the real final state", s.Status, deref(s.SlurmJobState), deref(s.ReportMessage))
	}
}

// A job the Python agent submitted (adopted from its marker file, recorded Unmarked) carries no
// marker: its owner alone identifies it. Reported when it is the owner's, refused otherwise.
func TestUnmarkedPythonAgentJobCheckedByOwner(t *testing.T) {
	sl := newFakeSlurm()
	ids := identities{}
	e := newEnv(t, sl, func(o *Options) { o.Identities = ids })
	e.start(t)
	own := addActive(e, "SUBMITTED", ptr2(901))
	ids[own] = jobidentity.Record{SubmissionID: own, SlurmJobID: 901, Owner: "alice", OwnerUID: 1000, Unmarked: true}
	j := runningJob(901)
	j.UserID = 1000
	sl.set(j)
	other := addActive(e, "SUBMITTED", ptr2(902))
	ids[other] = jobidentity.Record{SubmissionID: other, SlurmJobID: 902, Owner: "alice", OwnerUID: 1000, Unmarked: true}
	j = runningJob(902)
	j.UserID = 2000
	sl.set(j)
	e.runCycle(t)
	if s := e.submission(t, own); deref(s.SlurmJobState) != "RUNNING" || s.Status != "SUBMITTED" {
		t.Errorf("alice's unmarked job: state %q status %s, want RUNNING and SUBMITTED", deref(s.SlurmJobState), s.Status)
	}
	if s := e.submission(t, other); deref(s.SlurmJobState) != "UNKNOWN" || !strings.Contains(deref(s.ReportMessage), "is not this submission's job") {
		t.Errorf("bob's job recorded as alice's: state %q message %q, want UNKNOWN and the reason", deref(s.SlurmJobState), deref(s.ReportMessage))
	}
}
