package jobbergatetest

import (
	"fmt"
	"net/http"
	"sort"
	"time"
)

// clusterStatusView is a cluster status on the wire.
type clusterStatusView struct {
	ClientID     string    `json:"client_id"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	LastReported time.Time `json:"last_reported"`
	Interval     int       `json:"interval"`
	IsHealthy    bool      `json:"is_healthy"`
}

// handleClusterStatusPut records a health ping. Only the clusters:update scope is accepted
// (admin alone is refused), the token must carry a client id and interval must be an int > 0.
func (s *Server) handleClusterStatusPut(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r, ScopeClustersUpdate)
	if !ok || !requireClientID(w, id) {
		return
	}
	interval, ferr := queryInt(r, "interval", 0, 1, 0, true)
	if ferr != nil {
		if ferr.Type == "greater_than_equal" {
			ferr.Type, ferr.Msg, ferr.Ctx = "greater_than", "Input should be greater than 0", map[string]any{"gt": 0}
		}
		writeValidation(w, []fieldError{*ferr})
		return
	}
	now := s.now().UTC()
	s.mu.Lock()
	rec, ok := s.clusters[id.clientID]
	if !ok {
		rec = &clusterRecord{createdAt: now}
		s.clusters[id.clientID] = rec
	}
	rec.updatedAt = now
	rec.status = ClusterStatus{ClientID: id.clientID, Interval: interval, LastReported: now}
	s.mu.Unlock()
	s.log.Debug("cluster status reported", "client_id", id.clientID, "interval", interval)
	w.WriteHeader(http.StatusAccepted)
}

// handleClusterStatusList lists every cluster status, ordered by client id, paginated.
func (s *Server) handleClusterStatusList(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r, ScopeAdmin, ScopeClustersRead); !ok {
		return
	}
	if out, ok := paginate(w, r, s.clusterViews()); ok {
		writeJSON(w, http.StatusOK, out)
	}
}

// handleClusterStatusGet returns one cluster status or 404.
func (s *Server) handleClusterStatusGet(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r, ScopeAdmin, ScopeClustersRead); !ok {
		return
	}
	clientID := r.PathValue("client_id")
	s.mu.Lock()
	rec, ok := s.clusters[clientID]
	var v clusterStatusView
	if ok {
		v = s.clusterStatusView(rec)
	}
	s.mu.Unlock()
	if !ok {
		writeDetail(w, http.StatusNotFound, fmt.Sprintf("cluster_statuses entry was not found by locator=%s", clientID))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// clusterViews returns every cluster status ordered by client id.
func (s *Server) clusterViews() []clusterStatusView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]clusterStatusView, 0, len(s.clusters))
	for _, rec := range s.clusters {
		out = append(out, s.clusterStatusView(rec))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}

// clusterStatusView renders a record. Caller holds s.mu.
func (s *Server) clusterStatusView(rec *clusterRecord) clusterStatusView {
	st := s.clusterView(rec)
	return clusterStatusView{
		ClientID: st.ClientID, CreatedAt: rec.createdAt, UpdatedAt: rec.updatedAt,
		LastReported: st.LastReported, Interval: st.Interval, IsHealthy: st.IsHealthy,
	}
}
