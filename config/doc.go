// Package config reads the agent's settings.
//
// They are the reference agent's JOBBERGATE_AGENT_* variables with their names, types, defaults
// and validation (spec section 2), and the settings this design adds under the same prefix.
// Values come from the environment and from a .env file; the environment wins. Every problem is
// reported at once, one line per variable.
package config
