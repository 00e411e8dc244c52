// Package jobbergate is the agent's client of the Jobbergate API.
//
// It holds the data types the API exchanges with the agent, an OAuth2 client-credentials
// TokenSource with an on-disk cache, and a Client with one method per HTTP call the agent makes
// (pending and active submissions, job script files, submitted/rejected/update reports, job
// metrics, cluster health, API version).
//
// # Errors
//
// Every Client error is an *APIError whose message starts with the base message the reference
// agent uses for that call, so it can be used verbatim as a rejection report. IsStatus and
// IsTransient let callers decide whether to acknowledge, retry later or give up on a message.
// Tokens and client secrets never appear in logs or error messages.
package jobbergate
