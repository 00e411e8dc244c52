package jobbergate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

const (
	pendingPath   = "/jobbergate/job-submissions/agent/pending"
	activePath    = "/jobbergate/job-submissions/agent/active"
	submittedPath = "/jobbergate/job-submissions/agent/submitted"
	rejectedPath  = "/jobbergate/job-submissions/agent/rejected"
	agentPath     = "/jobbergate/job-submissions/agent/"
)

// Base messages of the reference agent (spec section 5).
const (
	msgFetchPending = "Failed to fetch pending job submissions"
	msgFetchActive  = "Failed to fetch active job submissions"
)

// PendingSubmissionsPage fetches one page (1-based) of the submissions in status CREATED for
// this cluster.
func (c *Client) PendingSubmissionsPage(ctx context.Context, page int) (*Page[PendingSubmission], error) {
	p, _, err := fetchPage[PendingSubmission](ctx, c, c.pendingCall(page))
	return p, err
}

// ActiveSubmissionsPage fetches one page (1-based) of the submissions in status SUBMITTED or
// CANCELLED for this cluster.
func (c *Client) ActiveSubmissionsPage(ctx context.Context, page int) (*Page[ActiveSubmission], error) {
	p, _, err := fetchPage[ActiveSubmission](ctx, c, c.activeCall(page))
	return p, err
}

// PendingPages yields the pages of pending submissions in order, stopping after the last page
// (page >= pages), after Options.MaxPages pages (DefaultMaxPages when unset), after the page
// that reaches MaxListItems items or MaxListBytes bytes, after an error (yielded with a nil
// page: a page of more than MaxPageItems items or MaxPageBytes bytes is one) or when the loop
// breaks. It suits streaming: each page is requested only when the
// previous one has been consumed.
func (c *Client) PendingPages(ctx context.Context) iter.Seq2[*Page[PendingSubmission], error] {
	return pages[PendingSubmission](ctx, c, c.pendingCall)
}

// ActivePages is PendingPages for active submissions.
func (c *Client) ActivePages(ctx context.Context) iter.Seq2[*Page[ActiveSubmission], error] {
	return pages[ActiveSubmission](ctx, c, c.activeCall)
}

// PendingSubmissions returns every pending submission (all pages, within the bounds of
// PendingPages). Any failing page fails the whole call with "Failed to fetch pending job submissions".
func (c *Client) PendingSubmissions(ctx context.Context) ([]PendingSubmission, error) {
	return collect(c.PendingPages(ctx))
}

// ActiveLister is what lists every active submission (all pages): *Client, or a cache over it
// that several callers share (metrics.SharedLister).
type ActiveLister interface {
	ActiveSubmissions(ctx context.Context) ([]ActiveSubmission, error)
}

var _ ActiveLister = (*Client)(nil)

// ActiveSubmissions returns every active submission (all pages, within the bounds of
// PendingPages).
// Any failing page fails the whole call with "Failed to fetch active job submissions".
func (c *Client) ActiveSubmissions(ctx context.Context) ([]ActiveSubmission, error) {
	return collect(c.ActivePages(ctx))
}

func (c *Client) pendingCall(page int) call {
	return c.pageCall("PendingSubmissions", msgFetchPending, pendingPath, page)
}

func (c *Client) activeCall(page int) call {
	return c.pageCall("ActiveSubmissions", msgFetchActive, activePath, page)
}

func (c *Client) pageCall(name, message, path string, page int) call {
	return call{
		name: name, message: message, method: http.MethodGet, path: path,
		query:   url.Values{"page": {strconv.Itoa(page)}, "size": {strconv.Itoa(c.pageSize)}},
		maxBody: MaxPageBytes,
	}
}

func pages[T any](ctx context.Context, c *Client, mk func(page int) call) iter.Seq2[*Page[T], error] {
	return func(yield func(*Page[T], error) bool) {
		maxPages := c.maxPages
		if maxPages == 0 {
			maxPages = DefaultMaxPages
		}
		items, read := 0, int64(0)
		for n := 1; ; n++ {
			cl := mk(n)
			p, size, err := fetchPage[T](ctx, c, cl)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(p, nil) || p.Last() {
				return
			}
			items, read = items+len(p.Items), read+size
			var bound string
			switch {
			case n >= maxPages && c.maxPages != 0: // MAX_PAGES_PER_CYCLE: the reference's rule
				c.log.Debug("page limit reached: the remaining pages are left for the next poll",
					"call", cl.name, "pages_read", n, "pages", p.Pages)
				return
			case n >= maxPages:
				bound = "DefaultMaxPages"
			case items >= c.listItems:
				bound = "MaxListItems"
			case read >= c.listBytes:
				bound = "MaxListBytes"
			default:
				continue
			}
			c.log.Warn("the API lists more than one poll reads: the remaining pages are left for the next poll",
				"call", cl.name, "bound", bound, "pages_read", n, "items", items, "bytes", read, "pages", p.Pages)
			return
		}
	}
}

func collect[T any](seq iter.Seq2[*Page[T], error]) ([]T, error) {
	out := []T{}
	for p, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
	}
	return out, nil
}

// fetchPage fetches and decodes one page; size is its body's length.
func fetchPage[T any](ctx context.Context, c *Client, cl call) (p *Page[T], size int64, err error) {
	p = new(Page[T])
	size, err = c.decodeJSON(ctx, cl, p)
	if err != nil {
		return nil, 0, err
	}
	return p, size, nil
}

// getJSON sends the call and decodes its JSON answer into v.
func (c *Client) getJSON(ctx context.Context, cl call, v any) error {
	_, err := c.decodeJSON(ctx, cl, v)
	return err
}

// decodeJSON is getJSON that also returns the length of the answer's body.
func (c *Client) decodeJSON(ctx context.Context, cl call, v any) (int64, error) {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		if !errors.Is(err, ErrValidation) {
			err = fmt.Errorf("%w: %v", ErrInvalidResponse, err)
		}
		return 0, c.apiError(cl, resp.status, resp.body, err, false)
	}
	return int64(len(resp.body)), nil
}

// sendJSON sends the call with v as its JSON body and ignores the answer's body.
func (c *Client) sendJSON(ctx context.Context, cl call, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return c.apiError(cl, 0, nil, fmt.Errorf("encode request body: %w", err), false)
	}
	cl.body, cl.ctype = b, "application/json"
	_, err = c.do(ctx, cl)
	return err
}

// MarkSubmitted reports that submission id was submitted to Slurm (POST .../agent/submitted,
// body id, slurm_job_id, slurm_job_state, slurm_job_info, slurm_job_state_reason with explicit
// nulls). Not retried by the client. The API answers 400 when the submission is neither CREATED
// nor CANCELLED, 404 when it does not exist, 403 when it belongs to another cluster.
func (c *Client) MarkSubmitted(ctx context.Context, id int, data SlurmJobData) error {
	cl := call{
		name:    "MarkSubmitted",
		message: fmt.Sprintf("Could not mark job submission %d as submitted via the Jobbergate API", id),
		method:  http.MethodPost, path: submittedPath,
	}
	return c.sendJSON(ctx, cl, submittedBody{ID: id, slurmJobDataJSON: data.wire()})
}

// MarkRejected reports that submission id could not be submitted, with the message shown to
// its owner (POST .../agent/rejected, body id, report_message). Not retried by the client. The
// API answers 400 when the submission is not CREATED.
func (c *Client) MarkRejected(ctx context.Context, id int, reportMessage string) error {
	cl := call{
		name:    "MarkRejected",
		message: fmt.Sprintf("Could not mark job submission %d as rejected via the Jobbergate API", id),
		method:  http.MethodPost, path: rejectedPath,
	}
	return c.sendJSON(ctx, cl, rejectedBody{ID: id, ReportMessage: reportMessage})
}

// UpdateJob reports the Slurm state of submission id's job (PUT .../agent/{id}, body
// slurm_job_id, slurm_job_state, slurm_job_info, slurm_job_state_reason with explicit nulls).
// Idempotent, so retried. The API answers 400 when the submission is not SUBMITTED or
// CANCELLED and 409 when data.JobID differs from the job id on record.
func (c *Client) UpdateJob(ctx context.Context, id int, data SlurmJobData) error {
	cl := call{
		name:    "UpdateJob",
		message: fmt.Sprintf("Could not update job data for job submission %d via the API", id),
		method:  http.MethodPut, path: agentPath + strconv.Itoa(id),
	}
	return c.sendJSON(ctx, cl, data.wire())
}
