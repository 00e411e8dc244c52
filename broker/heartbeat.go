package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// AgentInfo is what every agent process writes to the agents bucket.
type AgentInfo struct {
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	Roles     []string  `json:"roles"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
}

// Heartbeat keeps one process's AgentInfo fresh in the agents bucket, so `nats kv ls <bucket>`
// shows who runs. The bucket's TTL removes the entry of a process that died without cleaning up.
type Heartbeat struct {
	kv       jetstream.KeyValue
	info     AgentInfo
	interval time.Duration
	key      string
	logger   *slog.Logger
}

var keyUnsafe = regexp.MustCompile(`[^A-Za-z0-9_=-]`)

// NewHeartbeat returns a heartbeat for info (Host and PID default to this process's) refreshed
// every interval, which must be well below the bucket's TTL (a third is a good choice).
func NewHeartbeat(kv jetstream.KeyValue, info AgentInfo, interval time.Duration, logger *slog.Logger) *Heartbeat {
	if info.Host == "" {
		info.Host, _ = os.Hostname()
	}
	if info.PID == 0 {
		info.PID = os.Getpid()
	}
	if info.StartedAt.IsZero() {
		info.StartedAt = time.Now().UTC()
	}
	key := keyUnsafe.ReplaceAllString(info.Host, "_") + "." + strconv.Itoa(info.PID)
	return &Heartbeat{kv: kv, info: info, interval: interval, key: key, logger: logger}
}

// Key is the process's key in the bucket: "<host>.<pid>".
func (h *Heartbeat) Key() string { return h.key }

// Run writes the heartbeat at once and then every interval until ctx is done; then it deletes
// the key (clean shutdown) and returns nil. A failed refresh is logged and retried next tick.
func (h *Heartbeat) Run(ctx context.Context) error {
	if err := h.beat(ctx); err != nil {
		return err
	}
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := h.kv.Delete(dctx, h.key); err != nil {
				h.logger.Warn("agent heartbeat: delete on shutdown failed", "key", h.key, "error", err)
			}
			return nil
		case <-t.C:
			if err := h.beat(ctx); err != nil && ctx.Err() == nil {
				h.logger.Warn("agent heartbeat: refresh failed", "key", h.key, "error", err)
			}
		}
	}
}

func (h *Heartbeat) beat(ctx context.Context) error {
	h.info.LastSeen = time.Now().UTC()
	data, err := json.Marshal(h.info)
	if err != nil {
		return fmt.Errorf("broker: encode heartbeat: %w", err)
	}
	if _, err := h.kv.Put(ctx, h.key, data); err != nil {
		return fmt.Errorf("broker: write heartbeat %s: %w", h.key, err)
	}
	return nil
}
