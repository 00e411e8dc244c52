package jobbergate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/backoff"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// DefaultPageSize is the page size used when Options.PageSize is zero (ITEMS_PER_PAGE's default).
const DefaultPageSize = 100

// maxResponseBytes bounds how much of a response body the client reads (pages: MaxPageBytes).
const maxResponseBytes = 64 << 20

// Bounds of a listing (PendingSubmissions, ActiveSubmissions and their Pages iterators), so that
// an API that claims a billion pages, or answers with huge pages, cannot exhaust the agent's
// memory or keep it requesting forever.
const (
	// DefaultMaxPages is how many pages a listing reads at most when Options.MaxPages is 0: 1000
	// pages of ITEMS_PER_PAGE (at most 100) items. Pages beyond are left for the next poll.
	DefaultMaxPages = 1000
	// MaxPageItems is the most items a page may hold; a page with more is an error (the API
	// never sends more than the size asked for, at most 100).
	MaxPageItems = 10_000
	// MaxPageBytes bounds the body of one page; a longer body is an error, after reading at most
	// MaxPageBytes+1 bytes (none when its Content-Length already says so).
	MaxPageBytes = 32 << 20
	// MaxListItems and MaxListBytes bound one listing: it stops after the page that brings the
	// items kept to MaxListItems or the page bodies read to MaxListBytes, with a warning; the
	// rest is left for the next poll. A listing thus keeps at most about MaxListBytes +
	// MaxPageBytes of answers and MaxListItems + MaxPageItems items.
	MaxListItems = 100_000
	MaxListBytes = 256 << 20
)

// TokenProvider supplies bearer tokens; *TokenSource implements it. Invalidate is called when
// the API answers 401 with the last token, before the single retry.
type TokenProvider interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// Options configures a Client.
type Options struct {
	// BaseURL is BASE_API_URL, e.g. "https://apis.vantagehpc.io"; a path prefix is kept.
	BaseURL string
	// HTTPClient sends the requests; nil means a new client with Timeout and a transport that
	// keeps enough idle connections for the agent's concurrency (NewTransport). The Client
	// uses a copy that follows no redirects (a redirect answer is an error).
	HTTPClient *http.Client
	// Timeout bounds each attempt when HTTPClient is nil (REQUESTS_TIMEOUT); 0 means none.
	Timeout time.Duration
	// Tokens supplies the bearer token sent on every request; nil sends no Authorization header.
	Tokens TokenProvider
	// Logger receives debug records per request and warnings for failed requests; nil discards.
	Logger *slog.Logger
	// ReportError, when set, is called once per call that failed at the transport level
	// (no HTTP answer), e.g. to capture it in Sentry. It must be safe for concurrent use.
	ReportError func(error)
	// Retry bounds the retries of GET and PUT calls.
	Retry RetryPolicy
	// PageSize is ITEMS_PER_PAGE (1..100); 0 means DefaultPageSize.
	PageSize int
	// MaxPages limits how many pages PendingSubmissions and ActiveSubmissions read
	// (the reference's MAX_PAGES_PER_CYCLE); 0 means DefaultMaxPages. MaxListItems and
	// MaxListBytes apply in any case.
	MaxPages int
}

// Client calls the agent-facing Jobbergate API. It is safe for concurrent use.
//
// Every request carries the bearer token. A 401 answer invalidates the token and the request
// is sent once more with a new one. GET and PUT requests are retried with exponential backoff
// and jitter after transport errors and 5xx/408/429 answers, up to Retry.MaxAttempts and never
// past the context's end; POST requests are not retried. Every error is an *APIError.
type Client struct {
	base        *url.URL
	http        *http.Client
	tokens      TokenProvider
	log         *slog.Logger
	reportError func(error)
	retry       RetryPolicy
	pageSize    int
	maxPages    int
	// listItems and listBytes are MaxListItems and MaxListBytes (tests lower them).
	listItems int
	listBytes int64
}

// setDefaults fills the options left at their zero value.
func (o *Options) setDefaults() {
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Logger == nil {
		o.Logger = logging.Discard()
	}
	o.Retry.setDefaults()
}

// Validate reports an invalid BaseURL, PageSize or MaxPages.
func (o Options) Validate() error {
	base, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil {
		return fmt.Errorf("jobbergate: invalid BaseURL: %w", err)
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return fmt.Errorf("jobbergate: invalid BaseURL %q: want http(s)://host[/prefix]", o.BaseURL)
	}
	if o.PageSize < 0 || o.PageSize > 100 {
		return fmt.Errorf("jobbergate: PageSize %d out of range 1..100", o.PageSize)
	}
	if o.MaxPages < 0 {
		return fmt.Errorf("jobbergate: MaxPages %d is negative", o.MaxPages)
	}
	return nil
}

// New returns a Client. It fails only on an invalid BaseURL, PageSize or MaxPages.
func New(opts Options) (*Client, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(strings.TrimRight(opts.BaseURL, "/")) // checked by Validate
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	} else {
		hc.Timeout = opts.Timeout
		hc.Transport = NewTransport(DefaultMaxIdleConnsPerHost)
	}
	hc.CheckRedirect = noRedirects
	c := &Client{
		base:        base,
		http:        &hc,
		tokens:      opts.Tokens,
		log:         opts.Logger,
		reportError: opts.ReportError,
		retry:       opts.Retry,
		pageSize:    opts.PageSize,
		maxPages:    opts.MaxPages,
		listItems:   MaxListItems,
		listBytes:   MaxListBytes,
	}
	return c, nil
}

// call describes one API call.
type call struct {
	name    string // Client method, for APIError.Call
	message string // reference base message
	method  string
	path    string // escaped path under the base URL, starting with /jobbergate
	query   url.Values
	body    []byte
	ctype   string
	// limit, when > 0, bounds a 2xx answer's body instead of maxResponseBytes: a longer body
	// fails with ErrFileTooLarge after reading at most limit+1 bytes (none when Content-Length
	// already says so).
	limit int64
	// maxBody, when > 0, replaces maxResponseBytes: a longer body fails with
	// ErrInvalidResponse after reading at most maxBody+1 bytes (none when Content-Length already
	// says so).
	maxBody int64
}

// response is a 2xx answer.
type response struct {
	status int
	body   []byte
}

func (c *Client) apiError(cl call, status int, body []byte, err error, transport bool) *APIError {
	ae := &APIError{
		Message: cl.message, Call: cl.name, Method: cl.method, Path: c.base.Path + cl.path,
		StatusCode: status, Err: err, transport: transport,
	}
	if body != nil {
		ae.Body = excerpt(body)
	}
	return ae
}

// do sends the call with the retry and 401 rules of Client and returns its 2xx answer.
func (c *Client) do(ctx context.Context, cl call) (*response, error) {
	idempotent := cl.method == http.MethodGet || cl.method == http.MethodPut
	attempts := 1
	if idempotent {
		attempts = c.retry.MaxAttempts
	}
	reauthorized := false
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, cl, attempt)
		if err == nil {
			return resp, nil
		}
		if IsStatus(err, http.StatusUnauthorized) && !reauthorized && c.tokens != nil {
			reauthorized = true
			c.tokens.Invalidate()
			c.log.Debug("jobbergate API answered 401: retrying with a new token", "method", cl.method, "path", cl.path)
			attempt-- // a re-authorised request is not a retry
			continue
		}
		if attempt >= attempts || !IsTransient(err) || ctx.Err() != nil {
			c.failed(cl, err, attempt)
			return nil, err
		}
		wait := c.retry.backoff(attempt)
		c.log.Debug("jobbergate API call failed: retrying", "method", cl.method, "path", cl.path,
			"attempt", attempt, "wait", wait, "error", err)
		if serr := backoff.Wait(ctx, wait); serr != nil {
			c.failed(cl, err, attempt)
			return nil, err
		}
	}
}

func (c *Client) failed(cl call, err error, attempts int) {
	var ae *APIError
	if errors.As(err, &ae) && ae.transport {
		c.log.Warn("Request to Jobbergate-API failed", "method", cl.method, "path", cl.path, "attempts", attempts, "error", err)
		if c.reportError != nil {
			c.reportError(err)
		}
		return
	}
	c.log.Debug("jobbergate API call failed", "method", cl.method, "path", cl.path, "attempts", attempts, "error", err)
}

// once sends one request and reads the whole answer.
func (c *Client) once(ctx context.Context, cl call, attempt int) (*response, error) {
	u, err := url.Parse(c.base.String() + cl.path)
	if err != nil {
		return nil, c.apiError(cl, 0, nil, fmt.Errorf("build URL: %w", err), false)
	}
	if cl.query != nil {
		u.RawQuery = cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, c.apiError(cl, 0, nil, fmt.Errorf("build request: %w", err), false)
	}
	if cl.ctype != "" {
		req.Header.Set("Content-Type", cl.ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "jobbergate-agent-go")
	if c.tokens != nil {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, c.apiError(cl, 0, nil, err, false)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	start := time.Now()
	res, err := c.http.Do(req)
	if err != nil {
		return nil, c.apiError(cl, 0, nil, stripURLError(err), true)
	}
	defer res.Body.Close()
	limit := int64(maxResponseBytes)
	if cl.maxBody > 0 {
		limit = cl.maxBody
	}
	ok := res.StatusCode >= 200 && res.StatusCode <= 299
	if cl.maxBody > 0 && res.ContentLength > limit {
		return nil, c.apiError(cl, res.StatusCode, nil, fmt.Errorf("%w: response body of %d bytes exceeds the %d-byte limit", ErrInvalidResponse, res.ContentLength, limit), false)
	}
	if cl.limit > 0 && ok {
		limit = cl.limit
		if res.ContentLength > limit {
			return nil, c.apiError(cl, res.StatusCode, nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFileTooLarge, res.ContentLength, limit), false)
		}
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	c.log.Debug("jobbergate API request", "method", cl.method, "path", cl.path, "status", res.StatusCode,
		"attempt", attempt, "duration", time.Since(start), "bytes", len(data))
	if err != nil {
		return nil, c.apiError(cl, res.StatusCode, nil, fmt.Errorf("read response body: %w", err), true)
	}
	if cl.limit > 0 && ok && int64(len(data)) > limit {
		return nil, c.apiError(cl, res.StatusCode, nil, fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, limit), false)
	}
	if int64(len(data)) > limit {
		return nil, c.apiError(cl, res.StatusCode, nil, fmt.Errorf("%w: response body exceeds the %d-byte limit", ErrInvalidResponse, limit), false)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, c.apiError(cl, res.StatusCode, data, ErrUnexpectedStatus, false)
	}
	return &response{status: res.StatusCode, body: data}, nil
}

// stripURLError drops the *url.Error wrapper (whose text repeats method and URL, which the
// APIError already names) but keeps its cause.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
