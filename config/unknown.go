package config

import (
	"fmt"
	"reflect"
	"sort"
)

// Warning is a JOBBERGATE_AGENT_* variable that names no setting. Load ignores it, as the
// reference agent does (pydantic-settings drops unknown keys), so that an old .env still starts
// the agent; the caller shows it once per variable so that a misspelt name does not go unseen.
type Warning struct {
	// Key is the variable as written (the environment's spelling when both name it).
	Key string `json:"key"`
	// From is "environment" or the path of the .env file the variable came from.
	From string `json:"from"`
	// Suggestion is the known setting closest to Key (full name, with the prefix), or "" when
	// none is close enough to be a likely misspelling.
	Suggestion string `json:"suggestion,omitempty"`
}

// FromEnvironment is Warning.From for a variable of the process environment.
const FromEnvironment = "environment"

func (w Warning) String() string {
	from := ""
	if w.From != FromEnvironment {
		from = " (in " + w.From + ")"
	}
	if w.Suggestion == "" {
		return fmt.Sprintf("unknown setting %s ignored%s; `jobbergate-agent config` lists the known ones", w.Key, from)
	}
	return fmt.Sprintf("unknown setting %s ignored%s; did you mean %s?", w.Key, from, w.Suggestion)
}

// knownNames lists every setting's name without the prefix, extensions' included, sorted.
func knownNames() []string {
	rt := reflect.TypeFor[Settings]()
	names := make([]string, 0, rt.NumField()+len(extraKeys))
	for i := 0; i < rt.NumField(); i++ {
		names = append(names, rt.Field(i).Tag.Get("env"))
	}
	for k := range extraKeys {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// closest returns the known name (without prefix) nearest to name in edit distance (insertions,
// deletions, substitutions and swaps of adjacent letters), or "" when the nearest needs more
// than one edit per three letters of name: then name is more likely a setting of another
// program or version than a misspelling. Ties go to the first name in alphabetical order.
func closest(name string, known []string) string {
	best, bestD := "", len(name)/3+1
	if bestD < 2 {
		bestD = 2
	}
	for _, k := range known {
		if diff := len(k) - len(name); diff >= bestD || -diff >= bestD {
			continue // at least |diff| edits
		}
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b (bytes).
func editDistance(a, b string) int {
	// Three rows: i-2, i-1 and i.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
