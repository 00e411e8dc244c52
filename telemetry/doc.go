// Package telemetry is the agent's Prometheus metrics and its small HTTP endpoint: /metrics,
// /healthz (the process answers) and /readyz (every readiness check passes: NATS connected,
// streams provisioned, ...).
//
// # Design
//
// Instrumentation is added from outside, as consumer middleware (Metrics.Middleware), an
// http.RoundTripper for the API client and decorators of the submit handler's dependencies
// (Metrics.SubmitSlurm and its siblings), so the instrumented packages do not depend on
// Prometheus.
package telemetry
