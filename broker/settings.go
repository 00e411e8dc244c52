package broker

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

// TopologyFor returns the names and limits of the agent's settings: NATS_PREFIX, NATS_REPLICAS
// and LEASE_TTL.
func TopologyFor(s *config.Settings) (Topology, error) {
	t, err := NewTopology(s.NATSPrefix)
	if err != nil {
		return t, fmt.Errorf("NATS_PREFIX: %w", err)
	}
	t.Limits.Replicas = s.NATSReplicas
	t.Limits.LeaseTTL = s.LeaseTTL
	return t, nil
}

// OptionsFor maps the agent's settings to the options of its broker, named name: the embedded
// server (with its token, created on first use) when NATS_URL is empty, else ClientOptionsFor.
func OptionsFor(s *config.Settings, name string) (Options, error) {
	if !s.Embedded() {
		c, err := ClientOptionsFor(s)
		if err != nil {
			return Options{}, err
		}
		return Options{Name: name, Client: c}, nil
	}
	token, err := EmbeddedToken(s, true)
	if err != nil {
		return Options{}, err
	}
	e := &EmbeddedOptions{StoreDir: s.NATSStoreDir, JetStreamDomain: s.NATSDomain, Token: token}
	if !s.NATSSyncAlways {
		e.SyncInterval = 2 * time.Minute // nats-server's default
	}
	if s.NATSListen == "" {
		e.NoListen = true
	} else {
		host, port, err := net.SplitHostPort(s.NATSListen)
		if err != nil {
			return Options{}, fmt.Errorf("NATS_LISTEN: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return Options{}, fmt.Errorf("NATS_LISTEN: port %q: %w", port, err)
		}
		if p == 0 {
			p = -1 // a random free port
		}
		e.ListenHost, e.ListenPort = host, p
	}
	if s.NATSLeafRemote != "" {
		e.LeafRemote = &LeafRemote{URLs: strings.Split(s.NATSLeafRemote, ","), CredsFile: s.NATSLeafCreds}
	}
	return Options{Name: name, Embedded: e}, nil
}

// ClientOptionsFor maps the NATS_URL, credential, TLS and domain settings to the options of a
// client of an existing NATS deployment, as the agent and its commands (status, dead) both dial
// it. Replies come on the prefix's own inbox (Topology.InboxPrefix), the only one the
// permissions of deploy/nats let the agents' user subscribe to.
func ClientOptionsFor(s *config.Settings) (*ClientOptions, error) {
	t, err := TopologyFor(s)
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, u := range strings.Split(s.NATSURL, ",") {
		urls = append(urls, strings.TrimSpace(u))
	}
	return &ClientOptions{
		URLs: urls, User: s.NATSUser, Password: s.NATSPassword, Token: s.NATSToken,
		NKeySeedFile: s.NATSNKeySeed, CredsFile: s.NATSCreds,
		CAFile: s.NATSTLSCA, CertFile: s.NATSTLSCert, KeyFile: s.NATSTLSKey,
		JetStreamDomain: s.NATSDomain,
		InboxPrefix:     t.InboxPrefix(),
	}, nil
}
