package metrics

import (
	"sync"
	"time"
)

// holds remembers, per submission, until when its metrics are not synced (after the API refused
// them). Safe for concurrent use; expired entries are pruned when a new hold is added.
type holds struct {
	mu    sync.Mutex
	until map[int]time.Time
}

func newHolds() *holds { return &holds{until: map[int]time.Time{}} }

// hold holds id until until, and forgets the holds that ended at now.
func (h *holds) hold(id int, now, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, t := range h.until {
		if !now.Before(t) {
			delete(h.until, k)
		}
	}
	h.until[id] = until
}

// heldUntil reports whether id is held at now, and until when.
func (h *holds) heldUntil(id int, now time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.until[id]
	if !ok {
		return time.Time{}, false
	}
	if !now.Before(t) {
		delete(h.until, id)
		return time.Time{}, false
	}
	return t, true
}
