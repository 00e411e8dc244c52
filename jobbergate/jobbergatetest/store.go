package jobbergatetest

import (
	"slices"
	"sort"
	"time"
)

// AddJobScript stores a job script with its files and returns its id (js.ID if non-zero, else
// the next free id). A script with an existing id is replaced.
func (s *Server) AddJobScript(js JobScript) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if js.ID == 0 {
		s.nextScriptID++
		for s.scripts[s.nextScriptID] != nil {
			s.nextScriptID++
		}
		js.ID = s.nextScriptID
	} else if js.ID > s.nextScriptID {
		s.nextScriptID = js.ID
	}
	files := make([]File, len(js.Files))
	for i, f := range js.Files {
		f.Content = slices.Clone(f.Content)
		files[i] = f
	}
	js.Files = files
	s.scripts[js.ID] = &storedScript{JobScript: js, createdAt: s.now().UTC()}
	return js.ID
}

// AddSubmission stores a submission and returns its id (sub.ID if non-zero, else the next free
// id). Status defaults to CREATED; Progress is ignored (the history starts empty). A submission
// with an existing id is replaced.
func (s *Server) AddSubmission(sub Submission) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub.ID == 0 {
		s.nextSubID++
		for s.subs[s.nextSubID] != nil {
			s.nextSubID++
		}
		sub.ID = s.nextSubID
	} else if sub.ID > s.nextSubID {
		s.nextSubID = sub.ID
	}
	if sub.Status == "" {
		sub.Status = StatusCreated
	}
	c := copySubmission(sub)
	c.Progress = nil
	s.subs[sub.ID] = &c
	return sub.ID
}

// Submission returns a copy of the current state of submission id.
func (s *Server) Submission(id int) (Submission, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	if !ok {
		return Submission{}, false
	}
	return copySubmission(*sub), true
}

// Submissions returns copies of every submission, ordered by id.
func (s *Server) Submissions() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Submission, 0, len(s.subs))
	for _, id := range s.sortedSubIDs() {
		out = append(out, copySubmission(*s.subs[id]))
	}
	return out
}

// Metrics returns the metric rows stored for a submission, in insertion order.
func (s *Server) Metrics(submissionID int) []MetricRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.metrics[submissionID])
}

// ClusterStatus returns the last health report of a client, with IsHealthy computed now
// (now - interval <= last_reported).
func (s *Server) ClusterStatus(clientID string) (ClusterStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.clusters[clientID]
	if !ok {
		return ClusterStatus{}, false
	}
	return s.clusterView(rec), true
}

// clusterView computes is_healthy for a record. Caller holds s.mu.
func (s *Server) clusterView(rec *clusterRecord) ClusterStatus {
	st := rec.status
	st.IsHealthy = !s.now().Add(-time.Duration(st.Interval) * time.Second).After(st.LastReported)
	return st
}

// sortedSubIDs returns the submission ids in ascending order. Caller holds s.mu.
func (s *Server) sortedSubIDs() []int {
	ids := make([]int, 0, len(s.subs))
	for id := range s.subs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// addProgress appends a progress entry to sub. Caller holds s.mu.
func (s *Server) addProgress(sub *Submission, state, message *string) {
	sub.Progress = append(sub.Progress, Progress{
		Time: s.now().UTC(), Status: sub.Status, SlurmJobState: clonePtr(state), Message: clonePtr(message),
	})
}

func copySubmission(sub Submission) Submission {
	c := sub
	c.ExecutionDirectory = clonePtr(sub.ExecutionDirectory)
	c.SbatchArguments = slices.Clone(sub.SbatchArguments)
	c.SlurmJobID = clonePtr(sub.SlurmJobID)
	c.SlurmJobState = clonePtr(sub.SlurmJobState)
	c.SlurmJobInfo = clonePtr(sub.SlurmJobInfo)
	c.SlurmJobStateReason = clonePtr(sub.SlurmJobStateReason)
	c.ReportMessage = clonePtr(sub.ReportMessage)
	if sub.Progress != nil {
		c.Progress = make([]Progress, len(sub.Progress))
		for i, p := range sub.Progress {
			p.SlurmJobState = clonePtr(p.SlurmJobState)
			p.Message = clonePtr(p.Message)
			c.Progress[i] = p
		}
	}
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
