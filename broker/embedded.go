package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrNoStoreDir is returned when the embedded server has no store directory.
var ErrNoStoreDir = errors.New("broker: embedded server needs a store directory")

// newEmbeddedServer builds and starts the in-process nats-server and waits until it accepts
// connections and JetStream is ready.
func newEmbeddedServer(o EmbeddedOptions, logger *slog.Logger) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, ErrNoStoreDir
	}
	if err := os.MkdirAll(o.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("broker: create store dir: %w", err)
	}
	name := o.ServerName
	if name == "" {
		host, _ := os.Hostname()
		name = "jobbergate-agent-" + host
	}
	sopts := &server.Options{
		ServerName:         name,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		JetStreamDomain:    o.JetStreamDomain,
		JetStreamMaxStore:  o.MaxStore,
		JetStreamMaxMemory: o.MaxMemory,
		NoSigs:             true,
		DontListen:         o.NoListen,
		Host:               o.ListenHost,
		Port:               o.ListenPort,
	}
	if sopts.Host == "" {
		sopts.Host = "127.0.0.1"
	}
	sopts.Authorization = o.Token
	if o.SyncInterval > 0 {
		sopts.SyncInterval = o.SyncInterval
	} else {
		sopts.SyncAlways = true
	}
	if o.LeafRemote != nil {
		remote := &server.RemoteLeafOpts{Credentials: o.LeafRemote.CredsFile, TLS: o.LeafRemote.TLS}
		for _, raw := range o.LeafRemote.URLs {
			u, err := url.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("broker: leaf remote URL: %w", err)
			}
			remote.URLs = append(remote.URLs, u)
		}
		if len(remote.URLs) == 0 {
			return nil, errors.New("broker: leaf remote has no URL")
		}
		sopts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
	}
	if c := o.Cluster; c != nil {
		sopts.Cluster.Name = c.Name
		sopts.Cluster.Host = c.Host
		sopts.Cluster.Port = c.Port
		if sopts.Cluster.Host == "" {
			sopts.Cluster.Host = "127.0.0.1"
		}
		if len(c.Routes) > 0 {
			sopts.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
		}
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("broker: new embedded server: %w", err)
	}
	ns.SetLoggerV2(serverLogger{l: logger.With("component", "nats-server")}, false, false, false)
	go ns.Start()
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if !ns.ReadyForConnections(timeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("broker: embedded server %s not ready after %s", name, timeout)
	}
	return ns, nil
}
