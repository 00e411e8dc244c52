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
	return fetchPage[PendingSubmission](ctx, c, c.pendingCall(page))
}

// ActiveSubmissionsPage fetches one page (1-based) of the submissions in status SUBMITTED or
// CANCELLED for this cluster.
func (c *Client) ActiveSubmissionsPage(ctx context.Context, page int) (*Page[ActiveSubmission], error) {
	return fetchPage[ActiveSubmission](ctx, c, c.activeCall(page))
}

// PendingPages yields the pages of pending submissions in order, stopping after the last page
// (page >= pages), after Options.MaxPages pages when set, after an error (yielded with a nil
// page) or when the loop breaks. It suits streaming: each page is requested only when the
// previous one has been consumed.
func (c *Client) PendingPages(ctx context.Context) iter.Seq2[*Page[PendingSubmission], error] {
	return pages[PendingSubmission](ctx, c, c.pendingCall)
}

// ActivePages is PendingPages for active submissions.
func (c *Client) ActivePages(ctx context.Context) iter.Seq2[*Page[ActiveSubmission], error] {
	return pages[ActiveSubmission](ctx, c, c.activeCall)
}

// PendingSubmissions returns every pending submission (all pages, or Options.MaxPages of
// them). Any failing page fails the whole call with "Failed to fetch pending job submissions".
func (c *Client) PendingSubmissions(ctx context.Context) ([]PendingSubmission, error) {
	return collect(c.PendingPages(ctx))
}

// ActiveSubmissions returns every active submission (all pages, or Options.MaxPages of them).
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
		query: url.Values{"page": {strconv.Itoa(page)}, "size": {strconv.Itoa(c.pageSize)}},
	}
}

func pages[T any](ctx context.Context, c *Client, mk func(page int) call) iter.Seq2[*Page[T], error] {
	return func(yield func(*Page[T], error) bool) {
		for n := 1; c.maxPages == 0 || n <= c.maxPages; n++ {
			p, err := fetchPage[T](ctx, c, mk(n))
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(p, nil) || p.Last() {
				return
			}
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

func fetchPage[T any](ctx context.Context, c *Client, cl call) (*Page[T], error) {
	var p Page[T]
	if err := c.getJSON(ctx, cl, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// getJSON sends the call and decodes its JSON answer into v.
func (c *Client) getJSON(ctx context.Context, cl call, v any) error {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		if !errors.Is(err, ErrValidation) {
			err = fmt.Errorf("%w: %v", ErrInvalidResponse, err)
		}
		return c.apiError(cl, resp.status, resp.body, err, false)
	}
	return nil
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
