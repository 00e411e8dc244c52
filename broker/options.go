package broker

import "time"

// Options selects how the agent reaches NATS. Exactly one of Embedded and Client must be set.
type Options struct {
	// Embedded runs nats-server inside the agent process.
	Embedded *EmbeddedOptions
	// Client connects to an existing NATS deployment.
	Client *ClientOptions
	// Name is the NATS connection name shown by `nats server report connections`.
	Name string
}

// EmbeddedOptions configures the in-process nats-server. The agent itself always talks to it
// in-process (nats.InProcessServer); the TCP listener only exists for operators and peers.
type EmbeddedOptions struct {
	// StoreDir is the JetStream store directory (the agent uses CACHE_DIR/nats). Required.
	StoreDir string
	// ServerName is the server's unique name. Defaults to "jobbergate-agent-<hostname>".
	ServerName string
	// NoListen switches off the TCP listener: the server is then only reachable in-process.
	NoListen bool
	// ListenHost is the listener's address; defaults to 127.0.0.1 (loopback only).
	ListenHost string
	// ListenPort is the listener's port; 0 means the NATS default 4222, -1 a random free port.
	ListenPort int
	// SyncInterval is how often the file store fsyncs. Zero (the default) means fsync every
	// write (nats-server's sync_interval: always), so acknowledged work survives a power cut.
	SyncInterval time.Duration
	// JetStreamDomain sets this server's JetStream domain. Required with LeafRemote when the hub
	// also runs JetStream (a leaf must use its own domain).
	JetStreamDomain string
	// MaxStore and MaxMemory cap JetStream storage; zero lets the server choose.
	MaxStore, MaxMemory int64
	// LeafRemote, when set, makes this server a leaf node of a hub (outbound connection only).
	LeafRemote *LeafRemote
	// Cluster, when set, makes this server a member of a routed JetStream cluster.
	Cluster *ClusterOptions
	// ReadyTimeout bounds how long Start waits for the server; defaults to 30 s.
	ReadyTimeout time.Duration
	// Token, when set, is required from every client of the embedded server: the agent itself
	// (in-process) and anyone on the TCP listener (the nats CLI, `jobbergate-agent status`).
	// Without it any local user of a login node could connect to the listener and purge
	// streams or edit claims.
	Token string
}

// LeafRemote is the hub a leaf node connects to.
type LeafRemote struct {
	// URLs of the hub's leaf-node listeners, e.g. "nats-leaf://hub.example.org:7422".
	URLs []string
	// CredsFile is a .creds file for the hub account (optional).
	CredsFile string
	// TLS enables TLS towards the hub.
	TLS bool
}

// ClusterOptions makes the embedded server a member of a routed cluster.
type ClusterOptions struct {
	// Name is the cluster name, the same on every member.
	Name string
	// Host and Port of this member's route listener (Port -1: random).
	Host string
	Port int
	// Routes are the other members' route URLs, e.g. "nats-route://10.0.0.2:6222".
	Routes []string
}

// ClientOptions connects to an existing NATS deployment. At most one of User/Password, Token,
// NKeySeedFile and CredsFile should be set. Credentials are never logged.
type ClientOptions struct {
	// URLs of the servers; several may be given for a cluster.
	URLs []string
	// User and Password for user/password authentication.
	User, Password string
	// Token for token authentication.
	Token string
	// NKeySeedFile is a file holding an nkey user seed.
	NKeySeedFile string
	// CredsFile is a .creds file (JWT + nkey seed).
	CredsFile string
	// CAFile verifies the servers' certificates; CertFile and KeyFile are the client certificate.
	CAFile, CertFile, KeyFile string
	// JetStreamDomain addresses the JetStream of another domain (a leaf talking to its hub).
	JetStreamDomain string
	// InboxPrefix replaces the reply-subject prefix "_INBOX" (see Topology.InboxPrefix), so a
	// user whose permissions allow only its own inbox can still make requests and pull messages.
	InboxPrefix string
	// ReconnectWait is the first reconnect delay (default 1 s); it doubles up to
	// MaxReconnectWait (default 30 s), with jitter. Reconnection never gives up.
	ReconnectWait, MaxReconnectWait time.Duration
	// Once makes a single connection attempt, bounded by ConnectTimeout, and never reconnects:
	// for short-lived commands (status, dead) that must fail at once when nothing answers. The
	// agent leaves it off, so it waits for its servers and rides out their restarts.
	Once bool
	// ConnectTimeout bounds each connection attempt (nats.go's default, 2 s, when zero).
	ConnectTimeout time.Duration
}
