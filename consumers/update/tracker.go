package update

import (
	"crypto/sha256"
	"hash"
	"slices"
	"sync"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/jsonscan"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// VolatileInfoFields are the top-level fields of Slurm's job object (22.05 to 24.11) that change
// while nothing happens to the job: scheduler bookkeeping and the estimates of a pending job.
// They are ignored when deciding whether a job changed; they are still sent in every PUT.
var VolatileInfoFields = []string{
	"last_sched_evaluation", "priority", "accrue_time", "eligible_time", "start_time",
	"end_time", "preempt_time", "preemptable_time", "pre_sus_time", "suspend_time",
	"resize_time", "last_backfill",
}

// fingerprint identifies what was reported: full hashes the exact payload (a cheap first
// comparison), stable the payload without VolatileInfoFields (one walk over job_info's
// members, taken in Slurm's order, which is fixed).
type fingerprint struct {
	full, stable [sha256.Size]byte
}

func fullDigest(d jobbergate.SlurmJobData) [sha256.Size]byte {
	h := sha256.New()
	writeHead(h, d)
	h.Write([]byte(d.JobInfo))
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out
}

func stableDigest(d jobbergate.SlurmJobData) [sha256.Size]byte {
	h := sha256.New()
	writeHead(h, d)
	if !writeStableInfo(h, d.JobInfo) {
		h.Write([]byte{0xff}) // not an object: the whole text counts
		h.Write([]byte(d.JobInfo))
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out
}

// writeStableInfo writes the top-level members of the JSON object info, except
// VolatileInfoFields, to h in their order (Slurm prints its fields in a fixed order). It reports
// false when info is not a JSON object; what it wrote then is still a function of info alone.
func writeStableInfo(h hash.Hash, info string) bool {
	err := jsonscan.ObjectMembers([]byte(info), func(key, value []byte) bool {
		if slices.Contains(VolatileInfoFields, string(key)) {
			return true
		}
		h.Write(key)
		h.Write([]byte{0})
		h.Write(value)
		h.Write([]byte{0})
		return true
	})
	return err == nil
}

func writeHead(h interface{ Write([]byte) (int, error) }, d jobbergate.SlurmJobData) {
	if d.JobID != nil {
		h.Write([]byte{1, byte(*d.JobID), byte(*d.JobID >> 8), byte(*d.JobID >> 16), byte(*d.JobID >> 24)})
	}
	h.Write([]byte(d.JobState))
	h.Write([]byte{0})
	if d.StateReason != nil {
		h.Write([]byte{1})
		h.Write([]byte(*d.StateReason))
	}
	h.Write([]byte{0})
}

// entry is what the tracker knows about one submission.
type entry struct {
	slurmID int64 // 0: none
	seen    time.Time
	put     bool // fp and cycle describe a successful PUT
	fp      fingerprint
	cycle   int64
	hasCyc  bool
	status  slurm.JobStatus // state and reason of the last PUT
}

// tracker remembers the last successful PUT per submission. Safe for concurrent use.
type tracker struct {
	refresh     int64
	forgetAfter time.Duration

	mu        sync.Mutex
	entries   map[int]*entry
	lastSweep time.Time
}

func newTracker(refresh int, forgetAfter time.Duration) *tracker {
	return &tracker{refresh: int64(refresh), forgetAfter: forgetAfter, entries: map[int]*entry{}}
}

// seen notes that submission id (with Slurm job slurmID, 0 if none) was handled at now, and
// forgets submissions not seen for forgetAfter (checked at most once a minute).
func (t *tracker) seen(id int, slurmID int64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[id]
	if e == nil {
		e = &entry{}
		t.entries[id] = e
	}
	if e.slurmID != slurmID {
		*e = entry{}
	}
	e.slurmID, e.seen = slurmID, now
	if now.Sub(t.lastSweep) >= time.Minute {
		t.lastSweep = now
		for k, v := range t.entries {
			if now.Sub(v.seen) > t.forgetAfter {
				delete(t.entries, k)
			}
		}
	}
}

// unchanged reports whether d equals what was last PUT for id and fewer than refresh cycles have
// passed since. It returns the fingerprint to record after a successful PUT. Without a cycle
// number (hasCyc false) nothing counts as unchanged.
func (t *tracker) unchanged(id int, d jobbergate.SlurmJobData, cycle int64, hasCyc bool) (bool, fingerprint) {
	fp := fingerprint{full: fullDigest(d)}
	t.mu.Lock()
	e := t.entries[id]
	var last entry
	if e != nil {
		last = *e
	}
	t.mu.Unlock()
	due := t.due(id, last, cycle, hasCyc)
	if !due && fp.full == last.fp.full {
		return true, last.fp
	}
	fp.stable = stableDigest(d)
	return !due && fp.stable == last.fp.stable, fp
}

// due reports whether id's report must be sent again whatever changed: nothing was PUT yet,
// there are no cycle numbers, or refresh cycles have passed since the last PUT and the cycle is
// the submission's own slot ((cycle+id) mod refresh = 0; at the latest 2*refresh-1 cycles after
// the PUT). The slots spread the refreshes: jobs reported in one cycle (after a restart, all of
// them) are not all read and PUT again in one later cycle, and each submission keeps a period of
// refresh cycles once in its slot.
func (t *tracker) due(id int, last entry, cycle int64, hasCyc bool) bool {
	if !last.put || !hasCyc || !last.hasCyc || cycle < last.cycle {
		return true
	}
	age := cycle - last.cycle
	return age >= t.refresh && ((cycle+int64(id))%t.refresh == 0 || age >= 2*t.refresh-1)
}

// lastReported returns the state and reason last PUT for id's job slurmID when its refresh is
// not due in cycle; ok is false otherwise (nothing known, another job, or due).
func (t *tracker) lastReported(id int, slurmID int64, cycle int64, hasCyc bool) (slurm.JobStatus, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[id]
	if e == nil || e.slurmID != slurmID || t.due(id, *e, cycle, hasCyc) {
		return slurm.JobStatus{}, false
	}
	return e.status, true
}

// known reports whether anything was PUT or seeded for id's job slurmID in this process.
func (t *tracker) known(id int, slurmID int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[id]
	return e != nil && e.slurmID == slurmID && e.put
}

// seed records that the portal shows status for id's job slurmID as of cycle (reported by the
// submit path, not by a PUT of this process): later cycles compare with it, and the job is read
// and PUT again in its refresh slot. The digest is left empty, so the first read of the job
// after it is PUT.
func (t *tracker) seed(id int, slurmID int64, status slurm.JobStatus, cycle int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[id]
	if e == nil || e.slurmID != slurmID {
		e = &entry{slurmID: slurmID}
		t.entries[id] = e
	}
	e.put, e.fp, e.cycle, e.hasCyc, e.status = true, fingerprint{}, cycle, true, status
}

// put records a successful PUT of fp (the digest of d) for id in cycle. A terminal state
// forgets the submission: the API no longer lists it.
func (t *tracker) put(id int, fp fingerprint, cycle int64, hasCyc bool, d jobbergate.SlurmJobData) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d.JobState.IsTerminal() {
		delete(t.entries, id)
		return
	}
	e := t.entries[id]
	if e == nil {
		e = &entry{}
		t.entries[id] = e
	}
	e.put, e.fp, e.cycle, e.hasCyc = true, fp, cycle, hasCyc
	e.status = slurm.JobStatus{State: string(d.JobState)}
	if d.StateReason != nil {
		e.status.Reason = *d.StateReason
	}
}

// forget drops id (its message was terminated).
func (t *tracker) forget(id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, id)
}
