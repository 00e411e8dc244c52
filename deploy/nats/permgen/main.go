// Command permgen prints the nats-server configuration of one Slurm cluster's agents: the
// permissions variable (broker.AgentPermissions for the prefix) and the account holding the agent
// and leaf-node users: save the first part as perms-<PREFIX>.conf, paste the account block into
// accounts { } of accounts.conf (see deploy/nats/README.md):
//
//	go run ./deploy/nats/permgen -prefix JBG_C2 -agent-nkey UA... -leaf-nkey UB...
//
// It prints public keys only; seeds never pass through it.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nats-io/nkeys"
	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
)

func main() {
	prefix := flag.String("prefix", "", "the agents' JOBBERGATE_AGENT_NATS_PREFIX, e.g. JBG_C2 (required)")
	agent := flag.String("agent-nkey", "", "public nkey (U...) of the agents' user (required)")
	leaf := flag.String("leaf-nkey", "", "public nkey (U...) of the login nodes' leaf connection (optional)")
	flag.Parse()
	if err := run(os.Stdout, *prefix, *agent, *leaf); err != nil {
		fmt.Fprintln(os.Stderr, "permgen:", err)
		os.Exit(2)
	}
}

func run(w io.Writer, prefix, agent, leaf string) error {
	t, err := broker.NewTopology(prefix)
	if err != nil {
		return err
	}
	for _, k := range []string{agent, leaf} {
		if k != "" && !nkeys.IsValidPublicUserKey(k) {
			return fmt.Errorf("%q is not a public user nkey (U...); give the public key, never the seed", k)
		}
	}
	if agent == "" {
		return fmt.Errorf("-agent-nkey is required")
	}
	_, err = io.WriteString(w, Render(t, agent, leaf))
	return err
}

// Render returns the permissions variable and the account block for t.
func Render(t broker.Topology, agentNKey, leafNKey string) string {
	p := broker.AgentPermissions(t)
	var b strings.Builder
	fmt.Fprintf(&b, "# Agents of prefix %s (go run ./deploy/nats/permgen -prefix %s).\n", t.Prefix, t.Prefix)
	fmt.Fprintf(&b, "%s_AGENT = {\n  publish: { allow: [\n", t.Prefix)
	for _, s := range p.Publish {
		fmt.Fprintf(&b, "    %q\n", s)
	}
	b.WriteString("  ] }\n  subscribe: { allow: [\n")
	for _, s := range p.Subscribe {
		fmt.Fprintf(&b, "    %q\n", s)
	}
	b.WriteString("  ] }\n}\n")
	fmt.Fprintf(&b, "\n# Inside accounts { }: one account per prefix, so JetStream and subjects are isolated.\n")
	fmt.Fprintf(&b, "%s: {\n  jetstream: enabled\n  users: [\n", t.Prefix)
	fmt.Fprintf(&b, "    { nkey: %s, permissions: $%s_AGENT }  # agents\n", agentNKey, t.Prefix)
	if leafNKey != "" {
		fmt.Fprintf(&b, "    { nkey: %s }  # leaf nodes of the login nodes\n", leafNKey)
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}
