package health

import (
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// NewSource returns the bridge source of health ticks: one message per interval on
// topo.HealthSubject() with Nats-Msg-Id "tick-<interval number>" and the payload
// {"interval_seconds":N}. Poll it at least once per interval (the bridge's poll interval may be
// shorter: repeats within one interval are deduplicated). now nil means time.Now.
func NewSource(topo broker.Topology, interval time.Duration, now func() time.Time) bridge.Source {
	return bridge.Ticker(topo.HealthSubject(), interval, now)
}
