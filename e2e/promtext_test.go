package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// promSample is one scraped sample series: its full name with labels, e.g.
// `jobbergate_agent_sbatch_seconds_sum{result="ok"}`.
type promSamples map[string]float64

// scrapeMetrics reads the agent's Prometheus text exposition at url.
func scrapeMetrics(url string) (promSamples, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parsePromText(resp.Body)
}

// parsePromText reads the sample lines of the Prometheus text format (comments skipped,
// timestamps ignored).
func parsePromText(r io.Reader) (promSamples, error) {
	out := promSamples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The value follows the name and its labels (label values may hold spaces).
		end := strings.LastIndexByte(line, '}')
		rest := line
		name := ""
		if end >= 0 {
			name, rest = line[:end+1], line[end+1:]
		} else if i := strings.IndexByte(line, ' '); i > 0 {
			name, rest = line[:i], line[i:]
		}
		fields := strings.Fields(rest)
		if name == "" || len(fields) == 0 {
			return nil, fmt.Errorf("metrics: unreadable line %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: line %q: %w", line, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}

// histDelta is how a histogram series moved between two scrapes.
type histDelta struct {
	series string // labels, e.g. {result="ok"}
	count  float64
	sum    float64 // seconds
}

func (h histDelta) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / h.count * float64(time.Second))
}

// histDeltas returns, per label set, the count and sum a histogram gained from before to after,
// sorted by sum (largest first); series that did not move are left out.
func histDeltas(before, after promSamples, name string) []histDelta {
	var out []histDelta
	for k, v := range after {
		labels, ok := strings.CutPrefix(k, name+"_count")
		if !ok {
			continue
		}
		d := histDelta{series: labels, count: v - before[k],
			sum: after[name+"_sum"+labels] - before[name+"_sum"+labels]}
		if d.count > 0 {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].sum > out[j].sum })
	return out
}
