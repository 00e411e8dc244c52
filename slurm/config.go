package slurm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// configRecheck is how long a MinJobAge read from slurmctld is trusted.
const configRecheck = time.Hour

// configProbe caches MinJobAge. Safe for concurrent use.
type configProbe struct {
	mu        sync.Mutex
	minJobAge time.Duration
	until     time.Time
}

// MinJobAge is how long slurmctld keeps a finished job (scontrol show config, MinJobAge), read
// at most once an hour. Jobs submitted less than that ago are all in squeue/scontrol output,
// finished or not.
func (c *Client) MinJobAge(ctx context.Context) (time.Duration, error) {
	c.config.mu.Lock()
	defer c.config.mu.Unlock()
	if time.Now().Before(c.config.until) {
		return c.config.minJobAge, nil
	}
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "show", "config")
	if err != nil {
		return 0, fmt.Errorf("scontrol show config: %w", err)
	}
	d, err := ParseMinJobAge(out)
	if err != nil {
		return 0, err
	}
	c.config.minJobAge, c.config.until = d, time.Now().Add(configRecheck)
	return d, nil
}

// ParseMinJobAge reads MinJobAge from scontrol show config output ("MinJobAge = 300 sec").
func ParseMinJobAge(out string) (time.Duration, error) {
	for _, line := range strings.Split(out, "\n") {
		key, value, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(key) != "MinJobAge" {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			break
		}
		return time.Duration(n) * time.Second, nil
	}
	return 0, fmt.Errorf("no MinJobAge in scontrol show config output")
}
