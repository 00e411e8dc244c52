// Package backoff is the agent's one retry schedule: exponential delays with a cap and jitter,
// and a wait that ends early when its context does.
//
// # Contract
//
// Policy.Delay(n) is the wait after the n-th failed attempt (n >= 1; anything lower counts as 1):
// Initial × Multiplier^(n−1), capped at Max, then randomised by the policy's Jitter. It never
// returns a negative duration and never overflows, however large n is. Wait sleeps that long or
// until its context is done, and then returns the context's error.
//
// Every retry loop of the agent (redelivery delays, API calls, NATS reconnects, the record of a
// job id) takes its delays from a Policy, so the schedule is written once and tested once; each
// caller keeps its own numbers (see the Policy values where they are built).
package backoff
