package jobbergate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ErrFileTooLarge is the cause (inside an *APIError) of a DownloadFile answer longer than its
// maxBytes limit.
var ErrFileTooLarge = errors.New("file larger than the size limit")

// DownloadFile returns the content of a job script file
// (GET /jobbergate/job-scripts/{parentID}/upload/{filename}, filename path-escaped).
//
// maxBytes > 0 bounds the content: a file longer than that fails with an *APIError wrapping
// ErrFileTooLarge (not transient, so not retried), refused from its Content-Length header
// before any of the body is read, or, without one, after reading at most maxBytes+1 bytes, so a
// hostile 100 MB file never costs more than maxBytes of memory. maxBytes <= 0 means the
// client's general bound on answers (64 MiB).
func (c *Client) DownloadFile(ctx context.Context, parentID int, filename string, maxBytes int64) ([]byte, error) {
	cl := call{
		name:    "DownloadFile",
		message: fmt.Sprintf("Failed to download file %q of job script %d", filename, parentID),
		method:  http.MethodGet,
		path:    "/jobbergate/job-scripts/" + strconv.Itoa(parentID) + "/upload/" + url.PathEscape(filename),
		limit:   max(maxBytes, 0),
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// MetricsMaxTimes returns, for each (host, step, task) series already stored for submission
// id, the latest sample time (GET .../agent/metrics/{id}).
func (c *Client) MetricsMaxTimes(ctx context.Context, id int) (MetricsMaxTimes, error) {
	cl := call{
		name:    "MetricsMaxTimes",
		message: fmt.Sprintf("Could not fetch job metrics for job submission %d via the API", id),
		method:  http.MethodGet, path: agentPath + "metrics/" + strconv.Itoa(id),
	}
	var out MetricsMaxTimes
	if err := c.getJSON(ctx, cl, &out); err != nil {
		return MetricsMaxTimes{}, err
	}
	return out, nil
}

// PutMetrics uploads metric rows of submission id (PUT .../agent/metrics/{id}, msgpack body,
// Content-Type application/octet-stream). The API refuses more than MaxMetricRowsPerRequest
// rows and any row already stored (400 "Failed to insert metrics", whole batch); callers split
// and deduplicate. Retried like every PUT: a retry after a lost answer may meet that 400.
func (c *Client) PutMetrics(ctx context.Context, id int, rows []MetricRow) error {
	cl := call{
		name:    "PutMetrics",
		message: fmt.Sprintf("Could not upload job metrics for job submission %d via the API", id),
		method:  http.MethodPut, path: agentPath + "metrics/" + strconv.Itoa(id),
		ctype: "application/octet-stream",
	}
	body, err := EncodeMetricRows(rows)
	if err != nil {
		return c.apiError(cl, 0, nil, err, false)
	}
	cl.body = body
	_, err = c.do(ctx, cl)
	return err
}

// ReportStatus tells the API the agent is alive and will report again within interval
// (PUT /jobbergate/clusters/status?interval=N, N in whole seconds, rounded up).
func (c *Client) ReportStatus(ctx context.Context, interval time.Duration) error {
	secs := int64((interval + time.Second - 1) / time.Second)
	cl := call{
		name: "ReportStatus", message: "Failed to report agent status",
		method: http.MethodPut, path: "/jobbergate/clusters/status",
		query: url.Values{"interval": {strconv.FormatInt(secs, 10)}},
	}
	_, err := c.do(ctx, cl)
	return err
}

// APIVersion returns the API's version, info.version of /jobbergate/openapi.json.
func (c *Client) APIVersion(ctx context.Context) (string, error) {
	cl := call{
		name: "APIVersion", message: "Failed to fetch the Jobbergate API version",
		method: http.MethodGet, path: "/jobbergate/openapi.json",
	}
	var doc struct {
		Info *struct {
			Version *string `json:"version"`
		} `json:"info"`
	}
	if err := c.getJSON(ctx, cl, &doc); err != nil {
		return "", err
	}
	if doc.Info == nil || doc.Info.Version == nil {
		return "", c.apiError(cl, http.StatusOK, nil, validationErr("info.version", "field required"), false)
	}
	return *doc.Info.Version, nil
}
