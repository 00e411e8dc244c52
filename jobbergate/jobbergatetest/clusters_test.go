package jobbergatetest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestClusterStatusPut(t *testing.T) {
	f := newFixture(t)
	u := f.s.URL() + "/jobbergate/clusters/status"
	adminOnly := f.s.MintToken(TokenClaims{ClientID: "cluster-a", Permissions: []string{ScopeAdmin}})
	updateNoClient := f.s.MintToken(TokenClaims{Permissions: []string{ScopeClustersUpdate}})
	cases := []struct {
		name       string
		token      string
		query      string
		wantStatus int
		wantDetail string
	}{
		{"admin scope only", adminOnly, "?interval=60", 403, "Not authorized"},
		{"no token", "", "?interval=60", 401, "Not authenticated"},
		{"no client id", updateNoClient, "?interval=60", 400, "Checked expressions failed: Access token does not contain\n  1: client_id"},
		{"interval 0", f.tokA, "?interval=0", 422, ""},
		{"interval negative", f.tokA, "?interval=-5", 422, ""},
		{"interval missing", f.tokA, "", 422, ""},
		{"interval not int", f.tokA, "?interval=soon", 422, ""},
		{"ok", f.tokA, "?interval=60", 202, ""},
	}
	for _, tc := range cases {
		status, body, _ := request(t, http.MethodPut, u+tc.query, tc.token, "", nil)
		expect(t, tc.name, status, body, tc.wantStatus, tc.wantDetail)
	}
	if _, ok := f.s.ClusterStatus("cluster-b"); ok {
		t.Fatal("cluster-b has a status without reporting")
	}
	st, ok := f.s.ClusterStatus("cluster-a")
	if !ok || st.Interval != 60 || !st.LastReported.Equal(f.clock.Now()) || !st.IsHealthy {
		t.Fatalf("status after report: %+v %v", st, ok)
	}
	// Healthy up to exactly the interval, unhealthy after.
	f.clock.Advance(60 * time.Second)
	if st, _ := f.s.ClusterStatus("cluster-a"); !st.IsHealthy {
		t.Fatalf("unhealthy at exactly the interval: %+v", st)
	}
	f.clock.Advance(time.Second)
	if st, _ := f.s.ClusterStatus("cluster-a"); st.IsHealthy {
		t.Fatalf("still healthy after the interval: %+v", st)
	}
	// Upsert: a new report with a new interval makes it healthy again.
	status, body, _ := request(t, http.MethodPut, u+"?interval=30", f.tokA, "", nil)
	expect(t, "second report", status, body, 202, "")
	if st, _ := f.s.ClusterStatus("cluster-a"); st.Interval != 30 || !st.IsHealthy || !st.LastReported.Equal(f.clock.Now()) {
		t.Fatalf("after upsert: %+v", st)
	}
}

func TestClusterStatusRead(t *testing.T) {
	f := newFixture(t)
	base := f.s.URL() + "/jobbergate/clusters/status"
	for _, tok := range []string{f.tokB, f.tokA} {
		status, body, _ := request(t, http.MethodPut, base+"?interval=10", tok, "", nil)
		expect(t, "report", status, body, 202, "")
	}
	f.clock.Advance(11 * time.Second)
	status, body, _ := request(t, http.MethodPut, base+"?interval=10", f.tokB, "", nil)
	expect(t, "report b", status, body, 202, "")

	reader := f.s.MintToken(TokenClaims{Permissions: []string{ScopeClustersRead}})
	status, body, _ = request(t, http.MethodGet, base, reader, "", nil)
	var env struct {
		Items []clusterStatusView `json:"items"`
		Total int                 `json:"total"`
		Pages int                 `json:"pages"`
	}
	if status != 200 || json.Unmarshal(body, &env) != nil || env.Total != 2 || env.Pages != 1 {
		t.Fatalf("list: %d %s", status, body)
	}
	if env.Items[0].ClientID != "cluster-a" || env.Items[0].IsHealthy || env.Items[1].ClientID != "cluster-b" || !env.Items[1].IsHealthy {
		t.Fatalf("list items: %+v", env.Items)
	}
	status, body, _ = request(t, http.MethodGet, base+"/cluster-b", reader, "", nil)
	var one clusterStatusView
	if status != 200 || json.Unmarshal(body, &one) != nil || one.Interval != 10 || !one.IsHealthy || one.CreatedAt.Equal(one.UpdatedAt) {
		t.Fatalf("get one: %d %s", status, body)
	}
	status, body, _ = request(t, http.MethodGet, base+"/nobody", reader, "", nil)
	expect(t, "unknown cluster", status, body, 404, "")
	status, body, _ = request(t, http.MethodGet, base, f.tokA, "", nil) // agent scopes lack clusters:read
	expect(t, "agent reads status", status, body, 403, "")
}
