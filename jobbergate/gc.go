package jobbergate

import (
	"context"
	"net/http"
)

// GCEndpoint is the path of one of the API's garbage-collection endpoints.
type GCEndpoint string

// The garbage-collection endpoints the reference agent called daily (spec section 10.4). The
// API removed them in 5.7.0 (cleanup became an API-side cron): a newer API answers 404.
const (
	GCTemplateFiles GCEndpoint = "/jobbergate/job-script-templates/upload/garbage-collector"
	GCScriptFiles   GCEndpoint = "/jobbergate/job-scripts/upload/garbage-collector"
	GCUnusedEntries GCEndpoint = "/jobbergate/job-scripts/clean-unused-entries"
)

// GCEndpoints lists the garbage-collection endpoints in the reference's order.
var GCEndpoints = []GCEndpoint{GCTemplateFiles, GCScriptFiles, GCUnusedEntries}

// CollectGarbage triggers one garbage-collection endpoint (DELETE <ep>; any 2xx is success).
// It is not retried (the caller runs it once a day). An API of version 5.7.0 or later answers
// 404 (test with IsStatus(err, http.StatusNotFound)).
func (c *Client) CollectGarbage(ctx context.Context, ep GCEndpoint) error {
	cl := call{
		name: "CollectGarbage", message: "Failed to trigger garbage collection at " + string(ep),
		method: http.MethodDelete, path: string(ep),
	}
	_, err := c.do(ctx, cl)
	return err
}
