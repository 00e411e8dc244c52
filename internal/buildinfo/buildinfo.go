// Package buildinfo tells which version of the agent is running.
package buildinfo

import "runtime/debug"

// Version is the agent's version, MAJOR.MINOR.PATCH, set at build time with
// -ldflags "-X github.com/omnivector-solutions/jobbergate-agent-go/internal/buildinfo.Version=5.12.0".
// The default is the reference agent's version this one is drop-in compatible with, plus one minor.
var Version = "5.12.0"

// Commit is the VCS revision the binary was built from, when the Go toolchain recorded it.
func Commit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}

// GoVersion is the Go toolchain that built the binary.
func GoVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.GoVersion
	}
	return ""
}
