package submit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// PendingLister lists every submission in status CREATED (all pages); *jobbergate.Client
// implements it.
type PendingLister interface {
	PendingSubmissions(ctx context.Context) ([]jobbergate.PendingSubmission, error)
}

// MsgID is the Nats-Msg-Id of the submit message of submission id. It is stable, so the same
// submission polled again within the stream's dedupe window is enqueued once.
func MsgID(id int) string { return "submit-" + strconv.Itoa(id) }

// NewSource returns the bridge source of the submit path: each poll lists every CREATED
// submission and yields one message per submission on topo.Submit.Subject(<id>), with the
// submission's JSON as payload, the Jbg-Submission-Id header and MsgID(id). A failing list
// fails the whole poll (nothing is published from a partial list).
func NewSource(api PendingLister, topo broker.Topology) bridge.Source {
	return bridge.SourceFunc("submit", func(ctx context.Context) ([]bridge.Outgoing, error) {
		subs, err := api.PendingSubmissions(ctx)
		if err != nil {
			return nil, fmt.Errorf("submit source: %w", err)
		}
		out := make([]bridge.Outgoing, 0, len(subs))
		for _, s := range subs {
			data, err := json.Marshal(s)
			if err != nil {
				return nil, fmt.Errorf("submit source: encode submission %d: %w", s.ID, err)
			}
			id := strconv.Itoa(s.ID)
			h := nats.Header{}
			h.Set(broker.HeaderSubmissionID, id)
			out = append(out, bridge.Outgoing{Subject: topo.Submit.Subject(id), Data: data, Header: h, MsgID: MsgID(s.ID)})
		}
		return out, nil
	})
}
