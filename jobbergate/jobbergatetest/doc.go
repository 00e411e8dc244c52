// Package jobbergatetest is a development Jobbergate API for tests and demos.
//
// It is a real HTTP server that implements the agent-facing endpoints of the Jobbergate API with
// the server-side rules of the reference API (status transitions, ownership checks, pagination,
// metric validation, exact error texts), plus a Keycloak-style client-credentials token endpoint
// that issues signed, expiring JWTs.
//
// # Use
//
// It sits beside package jobbergate the way net/http/httptest sits beside net/http: client tests
// start one with NewTestServer, seed it with AddClient/AddJobScript/AddSubmission (or LoadSeed),
// point the client at URL and OIDCDomain, and then assert on the resulting state with Submission,
// Metrics and ClusterStatus. FailNext, DelayNext and Calls inject faults and count requests.
// The read-only /dev/ endpoints expose the same state over HTTP for demos and black-box tests.
//
// Every exported method of Server is safe for concurrent use.
package jobbergatetest
