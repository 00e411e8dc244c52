package inspect

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// TestAgentReportJSONIsFlat: the heartbeat's fields sit beside key and age_ns, as `status --json`
// has always printed them.
func TestAgentReportJSONIsFlat(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(AgentReport{Key: "node-a.1", Age: time.Second, AgentInfo: broker.AgentInfo{
		Host: "node-a", PID: 1, Version: "1.0.0", Roles: []string{"submit"}, StartedAt: at, LastSeen: at}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"key":"node-a.1","host":"node-a","pid":1,"version":"1.0.0","roles":["submit"],` +
		`"started_at":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:05Z","age_ns":1000000000}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
