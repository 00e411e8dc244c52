package bridge_test

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/omnivector-solutions/jobbergate-agent-go/bridge"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// A Source is what the bridge leader polls: SourceFunc makes one of a function that reads the
// API and returns one Outgoing message per piece of work. Its stable MsgID lets JetStream drop
// the copy that the next poll publishes while the work still waits.
func ExampleSourceFunc() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "bridge-example")
	defer os.RemoveAll(dir)
	b, err := broker.Start(ctx, broker.Options{Embedded: &broker.EmbeddedOptions{StoreDir: dir, NoListen: true}}, logging.Discard())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close(ctx)
	topo, _ := broker.NewTopology("JBG_EXAMPLE")
	if err := broker.Provision(ctx, b.JS, topo); err != nil {
		fmt.Println(err)
		return
	}

	pending := []int{41, 42} // what the API would list as CREATED
	src := bridge.SourceFunc("pending submissions", func(ctx context.Context) ([]bridge.Outgoing, error) {
		var out []bridge.Outgoing
		for _, id := range pending {
			s := strconv.Itoa(id)
			out = append(out, bridge.Outgoing{Subject: topo.Submit.Subject(s), Data: []byte(`{"id":` + s + `}`), MsgID: "submit-" + s + "-CREATED"})
		}
		return out, nil
	})
	p := bridge.NewPoller(b.JS, topo.Limits.Duplicates/2, logging.Discard(), src)

	first := p.Cycle(ctx)
	fmt.Println("first poll: published", first.Published, "duplicates", first.Duplicates)
	pending = append(pending, 43)
	second := p.Cycle(ctx)
	fmt.Println("second poll: published", second.Published, "duplicates", second.Duplicates)
	// Output:
	// first poll: published 2 duplicates 0
	// second poll: published 1 duplicates 2
}
