package jobbergate

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// An API that claims a billion pages of a few huge items each: the listing stops once the page
// bodies read reach the list's byte budget (MaxListBytes, lowered here to 1 MiB so that the test
// does not allocate 256 MiB), keeping the items read so far.
func TestListingStopsAtTheByteBudget(t *testing.T) {
	const budget = 1 << 20
	name := strings.Repeat("x", 300<<10) // 300 KiB a page, far below MaxPageBytes
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		pages := 1000000000
		if n > 20 { // a client without the budget fails the test instead of running for ever
			pages = page
		}
		fmt.Fprintf(w, `{"items": [{"id": %d, "name": %q, "status": "SUBMITTED", "slurm_job_id": 1}], "total": 1000000000, "page": %d, "size": 100, "pages": %d}`,
			page, name, page, pages)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c.listBytes = budget
	got, err := c.ActiveSubmissions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := budget/(len(name)+100) + 1 // the page that reaches the budget is kept
	if len(got) != want || int(requests.Load()) != want {
		t.Fatalf("%d items, %d requests, want %d", len(got), requests.Load(), want)
	}
}

// The item budget keeps the page that reaches it and stops there (MaxListItems lowered to 1000
// here; pages of 300 items: the fourth page reaches it).
func TestListingStopsAfterThePageReachingTheItemBudget(t *testing.T) {
	var items strings.Builder
	for i := range 300 {
		if i > 0 {
			items.WriteString(",")
		}
		fmt.Fprintf(&items, `{"id": %d, "name": "n", "owner_email": "a@b.c", "job_script": {"files": []}}`, i)
	}
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		pages := 1000000000
		if n > 20 {
			pages = page
		}
		fmt.Fprintf(w, `{"items": [%s], "total": 1000000000, "page": %d, "size": 100, "pages": %d}`, items.String(), page, pages)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c.listItems = 1000
	got, err := c.PendingSubmissions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1200 || requests.Load() != 4 {
		t.Fatalf("%d items, %d requests, want 1200 and 4", len(got), requests.Load())
	}
}
