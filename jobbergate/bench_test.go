package jobbergate_test

import (
	"context"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// BenchmarkPendingSubmissions measures draining 730 pending submissions (8 pages of 100) from
// the development API over loopback HTTP.
func BenchmarkPendingSubmissions(b *testing.B) {
	api := jobbergatetest.NewTestServer(b, jobbergatetest.Options{})
	api.AddClient(jobbergatetest.Client{ID: testClientID, Secret: testSecret, Permissions: jobbergatetest.AgentScopes})
	seedPending(api, 730)
	ts, err := jobbergate.NewTokenSource(jobbergate.TokenSourceOptions{
		TokenURL: jobbergate.OIDCTokenURL(api.OIDCDomain(), false), ClientID: testClientID, ClientSecret: testSecret,
	})
	if err != nil {
		b.Fatal(err)
	}
	c, err := jobbergate.New(jobbergate.Options{BaseURL: api.URL(), Tokens: ts})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		subs, err := c.PendingSubmissions(context.Background())
		if err != nil || len(subs) != 730 {
			b.Fatalf("%d, %v", len(subs), err)
		}
	}
}

// BenchmarkEncodeMetricRows measures encoding a full upload (2,340 rows).
func BenchmarkEncodeMetricRows(b *testing.B) {
	rows := make([]jobbergate.MetricRow, jobbergate.MaxMetricRowsPerRequest)
	for i := range rows {
		rows[i] = jobbergate.MetricRow{Time: int64(i), Host: "node-001", Step: 1, Task: 2, Values: [10]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jobbergate.EncodeMetricRows(rows); err != nil {
			b.Fatal(err)
		}
	}
}
