package metrics

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// TestChunkAttemptsPerDelivery: one retry layer per hop. A chunk upload that keeps failing is
// sent, per delivery of its message, at most the API client's RetryPolicy.MaxAttempts times
// (the production default, 3) when another try may help, and once when the API refused it;
// the decision then leaves the rest to JetStream's redelivery (Retry) or to DEAD (Terminate).
// Until the sync moved here, influx.Syncer retried each client call 3 times (up to 9 uploads of
// one chunk per delivery) and the handler synced a refused job twice (2 uploads).
func TestChunkAttemptsPerDelivery(t *testing.T) {
	// MaxAttempts left at its default, as the agent runs it; the waits shortened.
	policy := jobbergate.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	const clientAttempts = 3
	for _, tc := range []struct {
		name   string
		status int // the answer to every upload; 0: the connection is cut instead
		want   string
		puts   int
	}{
		{name: "connection cut", status: 0, want: "retry", puts: clientAttempts},
		{name: "503", status: http.StatusServiceUnavailable, want: "retry", puts: clientAttempts},
		{name: "500", status: http.StatusInternalServerError, want: "retry", puts: clientAttempts},
		{name: "429", status: http.StatusTooManyRequests, want: "retry", puts: clientAttempts},
		{name: "408", status: http.StatusRequestTimeout, want: "retry", puts: clientAttempts},
		{name: "400 refused", status: http.StatusBadRequest, want: "terminate", puts: 1},
		{name: "422 refused", status: http.StatusUnprocessableEntity, want: "terminate", puts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api, _ := newAPIRetry(t, policy)
			link := newFlakyLink(t, api)
			sub := addSubmission(api, "SUBMITTED", 77)
			src := newMemSource()
			src.add("77", samples("vm", "-5", "0", 1000, 1019)...) // 20 rows: one chunk
			h, err := NewHandler(Options{Source: src, API: link.client(t, api, policy), Logger: testenv.Logger(t), RefusedHold: -1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == 0 {
				link.cutNext(1000, false)
			} else {
				api.FailNext(http.MethodPut, metricsPath, tc.status, 1000)
			}
			for delivery := uint64(1); delivery <= 3; delivery++ {
				before := link.received()
				d := h.Handle(context.Background(), message(sub, 77, delivery, 5))
				if got := link.received() - before; got != tc.puts {
					t.Errorf("delivery %d: the chunk was sent %d times, want %d", delivery, got, tc.puts)
				}
				if tc.want == "retry" && !d.IsRetry() || tc.want == "terminate" && !d.IsTerminate() {
					t.Errorf("delivery %d: %s (%s), want %s", delivery, d, d.Reason(), tc.want)
				}
			}
			if n := len(api.Metrics(sub)); n != 0 {
				t.Errorf("the API holds %d rows, want none", n)
			}
		})
	}
}
