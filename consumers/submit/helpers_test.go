package submit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker/brokertest"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// newBroker starts an embedded broker on a temp store and provisions a topology.
func newBroker(t testing.TB, tune func(*broker.Limits)) (*broker.Broker, broker.Topology) {
	t.Helper()
	return brokertest.Start(t, brokertest.Prefix("JBG_SUBMIT_T"), brokertest.Limits(tune))
}

func claimsBucket(t testing.TB, b *broker.Broker, topo broker.Topology) jetstream.KeyValue {
	t.Helper()
	kv, err := b.JS.KeyValue(context.Background(), topo.SubmissionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// mapMapper maps e-mails with a fixed table; "transient@" addresses fail transiently and any
// other unknown address is not found.
type mapMapper map[string]string

func (m mapMapper) Username(_ context.Context, email string) (string, error) {
	if strings.HasPrefix(email, "transient@") {
		return "", fmt.Errorf("ldap: connection refused")
	}
	if u, ok := m[email]; ok {
		return u, nil
	}
	return "", usermap.NotFoundf("no user with mail %s", email)
}

var _ usermap.Mapper = mapMapper(nil)

// fakeAPI records reports and answers with configured errors.
type fakeAPI struct {
	mu         sync.Mutex
	files      map[string][]byte // "<parent>/<name>" -> content
	downloadEr error
	submitErr  []error // consumed one per MarkSubmitted call; nil entries succeed
	rejectErr  []error
	submitted  []jobbergate.SlurmJobData
	rejected   []string
}

func (a *fakeAPI) DownloadFile(_ context.Context, parent int, name string, _ int64) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.downloadEr != nil {
		return nil, a.downloadEr
	}
	b, ok := a.files[fmt.Sprintf("%d/%s", parent, name)]
	if !ok {
		return nil, &jobbergate.APIError{Message: fmt.Sprintf("Failed to download file %q of job script %d", name, parent),
			StatusCode: 404, Err: jobbergate.ErrUnexpectedStatus}
	}
	return b, nil
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	e := (*errs)[0]
	*errs = (*errs)[1:]
	return e
}

func (a *fakeAPI) MarkSubmitted(_ context.Context, _ int, d jobbergate.SlurmJobData) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := pop(&a.submitErr); err != nil {
		return err
	}
	a.submitted = append(a.submitted, d)
	return nil
}

func (a *fakeAPI) MarkRejected(_ context.Context, _ int, msg string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := pop(&a.rejectErr); err != nil {
		return err
	}
	a.rejected = append(a.rejected, msg)
	return nil
}

func apiErr(code int) error {
	return &jobbergate.APIError{Message: "injected", StatusCode: code, Err: jobbergate.ErrUnexpectedStatus}
}

// fakeSlurm answers without Slurm: every user but root and "ghost" exists, directories are
// judged by prefix, sbatch returns increasing ids or submitErr.
type fakeSlurm struct {
	mu        sync.Mutex
	nextID    int64
	submitErr error
	submits   []slurm.SubmitRequest
	marked    map[int64][]int64 // submission -> job ids "in Slurm"
	markers   map[int64]string  // job id -> the marker in its comment (absent: the legacy marker)
	findErr   error
	written   map[string][]byte
}

func newFakeSlurm() *fakeSlurm {
	return &fakeSlurm{nextID: 100, marked: map[int64][]int64{}, markers: map[int64]string{}, written: map[string][]byte{}}
}

func (s *fakeSlurm) LookupUser(name string) (slurm.User, error) {
	switch name {
	case "root":
		return slurm.User{}, fmt.Errorf("user %q: %w", name, slurm.ErrRootUser)
	case "ghost":
		return slurm.User{}, fmt.Errorf("look up user %q: %w", name, slurm.ErrUnknownUser)
	}
	return slurm.User{Name: name, UID: 1000, GID: 1000}, nil
}

func (s *fakeSlurm) ResolveExecutionDir(_ context.Context, u slurm.User, dir string) (string, error) {
	if !strings.HasPrefix(dir, "/") {
		return "", fmt.Errorf("%w: %q", slurm.ErrRelativeDir, dir)
	}
	if strings.HasPrefix(dir, "/missing") {
		return "", fmt.Errorf("%w: %s (user %s)", slurm.ErrDirNotUsable, dir, u.Name)
	}
	return dir, nil
}

func (s *fakeSlurm) WriteFile(_ context.Context, _ slurm.User, dir, name string, content []byte) (string, error) {
	base, err := slurm.SafeFileName(name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := dir + "/" + base
	s.written[p] = content
	return p, nil
}

func (s *fakeSlurm) Submit(_ context.Context, req slurm.SubmitRequest) (slurm.SubmitResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.submits = append(s.submits, req)
	if s.submitErr != nil {
		return slurm.SubmitResult{}, s.submitErr
	}
	s.nextID++
	s.marked[req.SubmissionID] = append(s.marked[req.SubmissionID], s.nextID)
	s.markers[s.nextID] = req.Marker
	return slurm.SubmitResult{JobID: s.nextID}, nil
}

// FindMarkedJobs returns the submission's jobs carrying the claim's marker (the legacy marker
// for claims without one); those with another marker are Earlier.
func (s *fakeSlurm) FindMarkedJobs(_ context.Context, sub int64, id slurm.Identity) (slurm.MarkedJobs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findErr != nil {
		return slurm.MarkedJobs{}, s.findErr
	}
	want := id.Marker
	if want == "" {
		want = slurm.LegacyMarker(sub)
	}
	var out slurm.MarkedJobs
	for _, j := range s.marked[sub] {
		m, ok := s.markers[j]
		if !ok {
			m = slurm.LegacyMarker(sub)
		}
		if m == want {
			out.Jobs = append(out.Jobs, slurm.JobData{JobID: j, JobState: "PENDING", Comment: m, UserID: 1000, UserName: id.Owner.Name})
		} else {
			out.Earlier = append(out.Earlier, j)
		}
	}
	return out, nil
}

// JobState answers every job as a pending job of uid 1000 (every user LookupUser knows) whose
// comment is the marker it was submitted with.
func (s *fakeSlurm) JobState(_ context.Context, id int64) (slurm.JobData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slurm.JobData{JobID: id, JobState: "PENDING", StateReason: "None", JobInfo: fmt.Sprintf(`{"job_id":%d}`, id),
		Comment: s.markers[id], UserID: 1000}, nil
}

func (s *fakeSlurm) submitCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.submits)
}
