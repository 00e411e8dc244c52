// Command jobbergate-agent connects a Jobbergate deployment to a Slurm cluster through NATS
// JetStream. Its logic is in package cli, so that a site can build its own binary with its
// extensions (see examples/site-agent).
package main

import (
	"os"

	"github.com/omnivector-solutions/jobbergate-agent-go/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
