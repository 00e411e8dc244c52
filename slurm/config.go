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

// configProbe caches MinJobAge and the Slurm version. Safe for concurrent use.
type configProbe struct {
	mu        sync.Mutex
	minJobAge time.Duration
	until     time.Time

	versionMu    sync.Mutex
	version      Version
	versionUntil time.Time
}

// slurmVersion is the version of the Slurm commands (scontrol --version), read at most once an
// hour (a failed read is retried after a minute).
func (c *Client) slurmVersion(ctx context.Context) (Version, error) {
	if c.opts.SlurmVersion != "" {
		return ParseVersion(c.opts.SlurmVersion)
	}
	c.config.versionMu.Lock()
	defer c.config.versionMu.Unlock()
	if time.Now().Before(c.config.versionUntil) {
		return c.config.version, nil
	}
	out, err := c.runAsAgent(ctx, c.opts.ScontrolPath, "--version")
	var v Version
	if err == nil {
		v, err = ParseVersion(out)
	}
	if err != nil {
		c.config.version, c.config.versionUntil = Version{}, time.Now().Add(time.Minute)
		c.logger.WarnContext(ctx, "could not read the Slurm version; job records are read in scontrol's Key=Value form for now", "error", err)
		return Version{}, fmt.Errorf("scontrol --version: %w", err)
	}
	c.config.version, c.config.versionUntil = v, time.Now().Add(configRecheck)
	return v, nil
}

// jsonRecords reports whether job records are read as JSON: scontrol show job --json exists
// (Slurm 23.02 and later). Then job_info is the job object of scontrol show job --json (the
// same object squeue --json prints), in every report; on Slurm 22.05 it is the job's
// scontrol -o Key=Value pairs as a JSON object of strings. While the version cannot be read,
// records are read in the Key=Value form.
func (c *Client) jsonRecords(ctx context.Context) bool {
	v, err := c.slurmVersion(ctx)
	return err == nil && v.ScontrolJSON()
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
