// Package telemetry holds the agent's Prometheus metrics and its small HTTP endpoint: /metrics,
// /healthz (the process answers) and /readyz (every readiness check passes: NATS connected,
// streams provisioned, ...). Instrumentation is added from outside, as consumer middleware, an
// http.RoundTripper for the API client and decorators, so the instrumented packages do not
// depend on Prometheus.
package telemetry
