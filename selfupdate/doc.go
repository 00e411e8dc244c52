// Package selfupdate is the agent's self-update task: it compares the API's version with the
// agent's at every check, reports the result, and, when the site configured an update command,
// runs it so that the agent can restart on the new binary. It is off unless the site sets an
// interval.
//
// # Security
//
// The API chooses the version, so what it may cause is bounded: an update runs only towards a
// newer plain MAJOR.MINOR.PATCH within the same major (jobbergate.NeedUpdate: never a downgrade,
// never a pre-release, never a string that is not a version, which is also all the command's
// "{version}" can become), and the command runs with a minimal environment (MinimalEnv(), working
// directory /), so none of the agent's settings (JOBBERGATE_AGENT_*, the OIDC client secret)
// reach it.
package selfupdate
