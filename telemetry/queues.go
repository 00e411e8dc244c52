package telemetry

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

// queueCollector reads the work streams' depth and consumers' in-flight counts at scrape time.
type queueCollector struct {
	js       jetstream.JetStream
	topo     broker.Topology
	waiting  *prometheus.Desc
	inflight *prometheus.Desc
	dead     *prometheus.Desc
}

// RegisterQueues adds gauges of the work queues (messages waiting, in flight) and of the DEAD
// stream, read from JetStream at each scrape (bounded to 2 s).
func (m *Metrics) RegisterQueues(js jetstream.JetStream, topo broker.Topology) error {
	if m == nil {
		return nil
	}
	return m.Registry.Register(&queueCollector{
		js: js, topo: topo,
		waiting:  prometheus.NewDesc("jobbergate_agent_queue_waiting_messages", "Messages waiting in a work queue, not yet delivered.", []string{"queue"}, nil),
		inflight: prometheus.NewDesc("jobbergate_agent_queue_inflight_messages", "Messages delivered and not yet acknowledged.", []string{"queue"}, nil),
		dead:     prometheus.NewDesc("jobbergate_agent_dead_letters", "Messages in the DEAD stream.", nil, nil),
	})
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waiting
	ch <- c.inflight
	ch <- c.dead
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, q := range c.topo.Queues() {
		cons, err := c.js.Consumer(ctx, q.Stream, q.Consumer)
		if err != nil {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(info.NumPending), q.Kind)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(info.NumAckPending), q.Kind)
	}
	if s, err := c.js.Stream(ctx, c.topo.Dead); err == nil {
		if info, err := s.Info(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(info.State.Msgs))
		}
	}
}
