package jobbergate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// hostileAPI claims a billion pages and serves every page asked for, each with itemsPerPage
// items (pending or active shapes), counting requests. So that a client without bounds fails
// the test instead of running it for a billion pages, the page after giveUpAfter requests
// says it is the last one.
type hostileAPI struct {
	srv          *httptest.Server
	requests     atomic.Int64
	itemsPerPage int
	giveUpAfter  int64
}

func newHostileAPI(t *testing.T, itemsPerPage, giveUpAfter int) *hostileAPI {
	t.Helper()
	h := &hostileAPI{itemsPerPage: itemsPerPage, giveUpAfter: int64(giveUpAfter)}
	// The items are the same on every page (the agent does not dedupe them).
	var pendingItems, activeItems strings.Builder
	for i := range itemsPerPage {
		if i > 0 {
			pendingItems.WriteString(",")
			activeItems.WriteString(",")
		}
		fmt.Fprintf(&pendingItems, `{"id": %d, "name": "n", "owner_email": "a@b.c", "job_script": {"files": []}}`, i)
		fmt.Fprintf(&activeItems, `{"id": %d, "status": "SUBMITTED", "slurm_job_id": %d}`, i, i)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := h.requests.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		pages := 1000000000
		if n > h.giveUpAfter {
			pages = page
		}
		items := activeItems.String()
		if strings.HasSuffix(r.URL.Path, "/pending") {
			items = pendingItems.String()
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"items": [%s], "total": 100000000000, "page": %d, "size": 100, "pages": %d}`, items, page, pages)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hostileAPI) client(t *testing.T, maxPages int) *jobbergate.Client {
	t.Helper()
	c, err := jobbergate.New(jobbergate.Options{BaseURL: h.srv.URL, Tokens: &staticTokens{token: staticToken},
		Retry: fastRetry, MaxPages: maxPages})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The attack: an API claiming pages: 1e9 that serves every page asked for. A listing stops at
// DefaultMaxPages pages (or Options.MaxPages), and with pages of many items at MaxListItems
// items, instead of requesting and keeping pages for ever.
func TestListingStopsAgainstEndlessPages(t *testing.T) {
	tests := []struct {
		kind, name             string
		itemsPerPage, maxPages int
		wantRequests           int
	}{
		{"active", "1 item a page", 1, 0, jobbergate.DefaultMaxPages},
		{"pending", "1 item a page", 1, 0, jobbergate.DefaultMaxPages},
		{"pending", "100 items a page, MAX_PAGES_PER_CYCLE 5", 100, 5, 5},
		{"active", "10000 items a page", jobbergate.MaxPageItems, 0, jobbergate.MaxListItems / jobbergate.MaxPageItems},
	}
	for _, tt := range tests {
		kind := tt.kind
		t.Run(kind+"/"+tt.name, func(t *testing.T) {
			h := newHostileAPI(t, tt.itemsPerPage, 2*tt.wantRequests+5)
			c := h.client(t, tt.maxPages)
			var n int
			var err error
			if kind == "active" {
				var got []jobbergate.ActiveSubmission
				got, err = c.ActiveSubmissions(context.Background())
				n = len(got)
			} else {
				var got []jobbergate.PendingSubmission
				got, err = c.PendingSubmissions(context.Background())
				n = len(got)
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := int(h.requests.Load()); r != tt.wantRequests {
				t.Fatalf("%d requests, want %d", r, tt.wantRequests)
			}
			if want := tt.wantRequests * tt.itemsPerPage; n != want {
				t.Fatalf("%d items kept, want %d", n, want)
			}
			if n > jobbergate.MaxListItems+jobbergate.MaxPageItems {
				t.Fatalf("%d items kept, more than the bound", n)
			}
		})
	}
}

// The streaming iterator stops at the same bounds.
func TestPagesIteratorStopsAgainstEndlessPages(t *testing.T) {
	h := newHostileAPI(t, 1, 2*jobbergate.DefaultMaxPages)
	pages := 0
	for p, err := range h.client(t, 0).PendingPages(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Items) != 1 {
			t.Fatalf("page of %d items", len(p.Items))
		}
	}
	if want := jobbergate.DefaultMaxPages; pages != want || int(h.requests.Load()) != want {
		t.Fatalf("%d pages, %d requests, want %d", pages, h.requests.Load(), want)
	}
}

// A page with more than MaxPageItems items fails the listing at once (no retry, nothing kept).
func TestPageWithTooManyItemsIsAnError(t *testing.T) {
	h := newHostileAPI(t, jobbergate.MaxPageItems+1, 0)
	got, err := h.client(t, 0).ActiveSubmissions(context.Background())
	if !errors.Is(err, jobbergate.ErrValidation) || !strings.Contains(err.Error(), "more than 10000 items") || jobbergate.IsTransient(err) {
		t.Fatalf("err = %v (transient %v)", err, jobbergate.IsTransient(err))
	}
	if got != nil || h.requests.Load() != 1 {
		t.Fatalf("%d items kept, %d requests", len(got), h.requests.Load())
	}
}

// A page whose body never ends (no Content-Length, items streamed until the client hangs up)
// fails after MaxPageBytes with a clear error; the client reads no more than that, and a page
// that announces a longer body is refused without reading it.
func TestPageBodyIsBounded(t *testing.T) {
	t.Run("endless body", func(t *testing.T) {
		var sent atomic.Int64
		var requests atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			bw := bufio.NewWriterSize(w, 64<<10)
			item := []byte(`{"id": 1, "status": "SUBMITTED", "slurm_job_id": 1},`)
			n, _ := bw.WriteString(`{"total": 1, "page": 1, "size": 100, "pages": 1, "items": [`)
			sent.Add(int64(n))
			for r.Context().Err() == nil {
				n, err := bw.Write(item)
				sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		}))
		t.Cleanup(srv.Close)
		c, err := jobbergate.New(jobbergate.Options{BaseURL: srv.URL, Retry: fastRetry})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.ActiveSubmissions(context.Background())
		if !errors.Is(err, jobbergate.ErrInvalidResponse) || !strings.Contains(err.Error(), "response body exceeds the 33554432-byte limit") || jobbergate.IsTransient(err) {
			t.Fatalf("err = %v (transient %v)", err, jobbergate.IsTransient(err))
		}
		if got != nil || requests.Load() != 1 {
			t.Fatalf("%d items, %d requests", len(got), requests.Load())
		}
		srv.CloseClientConnections()
		if s := sent.Load(); s > 2*jobbergate.MaxPageBytes {
			t.Errorf("the server sent %d bytes: the client kept reading past the limit", s)
		}
	})
	t.Run("announced length", func(t *testing.T) {
		var requests atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.Header().Set("Content-Length", strconv.Itoa(jobbergate.MaxPageBytes+1))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"items": [`))
		}))
		t.Cleanup(srv.Close)
		c, err := jobbergate.New(jobbergate.Options{BaseURL: srv.URL, Retry: fastRetry})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.PendingSubmissions(context.Background())
		if !errors.Is(err, jobbergate.ErrInvalidResponse) || !strings.Contains(err.Error(), "exceeds the 33554432-byte limit") || requests.Load() != 1 {
			t.Fatalf("err = %v, %d requests", err, requests.Load())
		}
	})
}
