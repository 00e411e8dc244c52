package submit

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/consumers"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// sbatchStopper is alice attacking the agent from her login shell: she stops (SIGSTOP) every
// sbatch that runs as her, which she may, since the agent runs it with her uid.
type sbatchStopper struct {
	uid  uint32
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	stopped map[int]bool
}

func stopSbatchOf(uid uint32) *sbatchStopper {
	s := &sbatchStopper{uid: uid, quit: make(chan struct{}), done: make(chan struct{}), stopped: map[int]bool{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				s.scan()
			}
		}
	}()
	return s
}

func (s *sbatchStopper) scan() {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		name, uid, _, ok := procStatus(pid)
		if !ok || name != "sbatch" || uid != s.uid {
			continue
		}
		s.mu.Lock()
		if !s.stopped[pid] && syscall.Kill(pid, syscall.SIGSTOP) == nil {
			s.stopped[pid] = true
		}
		s.mu.Unlock()
	}
}

// stillStopped counts the stopped sbatch that are still there and stopped.
func (s *sbatchStopper) stillStopped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for pid := range s.stopped {
		if name, uid, state, ok := procStatus(pid); ok && name == "sbatch" && uid == s.uid && state == "T" {
			n++
		}
	}
	return n
}

// release ends the attack: no more stops, and every stopped sbatch continues. It returns how
// many sbatch were stopped in all.
func (s *sbatchStopper) release() int {
	close(s.quit)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.stopped {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	return len(s.stopped)
}

// procStatus reads a process's name, real uid and state letter from /proc/<pid>/status.
func procStatus(pid int) (name string, uid uint32, state string, ok bool) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return "", 0, "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "Name":
			name = fields[0]
		case "State":
			state = fields[0]
		case "Uid":
			n, err := strconv.ParseUint(fields[0], 10, 32)
			if err != nil {
				return "", 0, "", false
			}
			uid, ok = uint32(n), true
		}
	}
	return name, uid, state, ok && name != ""
}

// The attack of one owner on the others, on real Slurm: alice stops every sbatch the agent runs
// as her, with 30 submissions queued before bob's 5. Her deliveries hold at most half of the
// runner's slots and her share of the Slurm slots; the rest of hers are deferred (nak'ed, then
// requeued), so bob's submissions are SUBMITTED while her sbatch are still stopped. Once she
// lets them go, each of her submissions ends SUBMITTED with exactly one job of hers, and
// nothing is dead-lettered, however many times her messages were deferred.
func TestEndToEndStoppedSbatchDoesNotStarveOthers(t *testing.T) {
	// MaxDeliver 4: a deferred message is requeued from its second delivery on, within the
	// attack's 8 s although her turns are seconds apart while her sbatch are stopped.
	e := newE2E(t, func(l *broker.Limits) { l.MaxDeliver = 4 })
	const slurmSlots = 4
	aliceDir := e.tempDir(e.users["alice"].UID, e.users["alice"].GID, 0o700)
	var aliceIDs, bobIDs []int
	for i := range 30 {
		id, _ := e.add("alice@example.com", &aliceDir, heldArgs, entryScript("alice-"+strconv.Itoa(i)+".sh", jobScript))
		aliceIDs = append(aliceIDs, id)
	}
	for i := range 5 {
		id, _ := e.add("bob@example.com", nil, heldArgs, entryScript("bob-"+strconv.Itoa(i)+".sh", jobScript))
		bobIDs = append(bobIDs, id)
	}
	attack := stopSbatchOf(e.users["alice"].UID)
	t.Cleanup(func() {
		select {
		case <-attack.quit:
		default:
			attack.release()
		}
	})
	start := time.Now()
	e.poll()
	// Few of her deliveries may wait for admission, so that most of hers are deferred.
	h := e.handler("node-a/1", func(o *Options) { o.SlurmConcurrency, o.OwnerWaiting = slurmSlots, 4 })
	var requeued atomic.Int32 // deliveries of requeued copies
	e.run(consumers.HandlerFunc(func(ctx context.Context, m *consumers.Message) consumers.Decision {
		if m.Header.Get(broker.HeaderRequeued) != "" {
			requeued.Add(1)
		}
		return h.Handle(ctx, m)
	}), InFlight(slurmSlots))

	bob := e.waitFinal(bobIDs, 30*time.Second) // without the owner bounds, alice's deliveries fill every runner slot
	bobDone := time.Since(start)
	for _, id := range bobIDs {
		if s := bob[id]; s.Status != jobbergatetest.StatusSubmitted {
			t.Errorf("bob's submission %d: %s (%s)", id, s.Status, deref(s.ReportMessage))
		}
	}
	held := attack.stillStopped()
	t.Logf("bob's 5 submissions SUBMITTED %s after the start, with %d of alice's sbatch stopped", bobDone.Round(time.Millisecond), held)
	if held == 0 {
		t.Fatal("no sbatch of alice was stopped when bob's submissions were done: the attack did not happen")
	}
	// Let her messages be deferred past half of MaxDeliver, so that requeues happen too.
	time.Sleep(time.Until(start.Add(8 * time.Second)))
	stopped := attack.release()
	alice := e.waitFinal(aliceIDs, 3*time.Minute)
	t.Logf("alice's 30 submissions final %s after the start; %d of her sbatch were stopped in all; %d deliveries of requeued copies",
		time.Since(start).Round(time.Millisecond), stopped, requeued.Load())
	if requeued.Load() == 0 {
		t.Error("no requeued copy was delivered: the deferrals stayed below half of MaxDeliver")
	}
	marked := e.markedJobs(append(append([]int(nil), aliceIDs...), bobIDs...))
	for id, s := range map[int]jobbergatetest.Submission(alice) {
		if s.Status != jobbergatetest.StatusSubmitted || s.SlurmJobID == nil {
			t.Errorf("alice's submission %d: %s (%s)", id, s.Status, deref(s.ReportMessage))
			continue
		}
		if jobs := marked[id]; len(jobs) != 1 || jobs[0].JobID != int64(*s.SlurmJobID) || jobs[0].UserName != "alice" {
			t.Errorf("alice's submission %d reported job %d; marked jobs %+v", id, *s.SlurmJobID, jobs)
		}
	}
	for _, id := range bobIDs {
		if jobs := marked[id]; len(jobs) != 1 || jobs[0].UserName != "bob" {
			t.Errorf("bob's submission %d: marked jobs %+v", id, jobs)
		}
	}
	if n := brokertest.StreamMsgs(t, e.b.JS, e.topo.Dead); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}
