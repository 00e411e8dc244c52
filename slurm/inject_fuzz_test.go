package slurm

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzInjectSbatchArguments checks the script handed to sbatch. For arguments without a newline
// (callers must refuse those: a newline would add a command line to the script), the result is
// the original script with one block inserted at a line boundary: the original lines all stay,
// in order; the block holds the header and exactly one "#SBATCH <arg>" line per argument; every
// line above the block is blank or a comment, so sbatch still reads the injected directives; and
// a shebang stays the first line.
func FuzzInjectSbatchArguments(f *testing.F) {
	scripts := []string{
		"#!/bin/bash\n#SBATCH --job-name=hello\n#SBATCH --output=hello-%j.out\nsrun hostname\nsleep 5\n",
		"#!/bin/sh\n\n# comment\n  indented command\n",
		"#!/bin/bash\r\n#SBATCH -N 1\r\necho crlf\r\n",
		"#!/bin/bash\n#SBATCH --time=1", "", "echo no shebang", "\n\n\n",
	}
	for _, s := range scripts {
		f.Add(s, "--time=00:05:00", "--partition=debug", uint8(2))
	}
	f.Add("#!/bin/bash\necho\n", "", "--comment=a b c", uint8(1))
	f.Add("#!/bin/bash\necho\n", "--x", "", uint8(0))
	f.Fuzz(func(t *testing.T, script, a1, a2 string, n uint8) {
		args := []string{a1, a2, a1 + a2}[:n%4%3]
		if n%4 == 3 {
			args = []string{a2, a1, a2, a1}
		}
		for _, a := range args {
			if strings.Contains(a, "\n") {
				return // a precondition of InjectSbatchArguments: the caller rejects these
			}
		}
		got := InjectSbatchArguments(script, args, InjectionHeader)
		if len(args) == 0 {
			if got != script {
				t.Fatalf("no arguments changed the script: %q -> %q", script, got)
			}
			return
		}
		block := []string{"# " + InjectionHeader + "\n"}
		for _, a := range args {
			block = append(block, "#SBATCH "+a+"\n")
		}
		block = append(block, "\n")

		orig := lines(script)
		res := lines(got)
		k := -1
		for i := 0; i+len(block) <= len(res); i++ {
			if slices.Equal(res[i:i+len(block)], block) {
				rest := slices.Concat(res[:i], res[i+len(block):])
				want := orig
				if i == len(rest) && script != "" && !strings.HasSuffix(script, "\n") {
					// Appended after a last line without newline: that line gained its newline.
					want = slices.Clone(orig)
					want[len(want)-1] += "\n"
				}
				if slices.Equal(rest, want) {
					k = i
					break
				}
			}
		}
		if k < 0 {
			t.Fatalf("result is not the script plus one injected block at a line boundary:\nscript %q\nargs %q\nresult %q", script, args, got)
		}
		for _, l := range res[:k] {
			if l != "\n" && !strings.HasPrefix(l, "#") {
				t.Fatalf("command line %q above the injected #SBATCH lines: sbatch would ignore them\nresult %q", l, got)
			}
		}
		if strings.HasPrefix(script, "#!") && !strings.HasPrefix(got, orig[0]) {
			t.Fatalf("shebang %q is no longer first: %q", orig[0], got)
		}
	})
}

// lines splits s after each newline, without the empty tail SplitAfter leaves.
func lines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

// FuzzSafeFileName checks the names the agent writes into an execution directory: an accepted
// name is one non-empty path component (no '/', no NUL, not "." or ".."), taken from the end of
// the given name, and joining it to a directory stays directly inside that directory.
func FuzzSafeFileName(f *testing.F) {
	for _, s := range []string{"job.sh", "input/params.txt", "../../etc/passwd", "/", "..", ".", "a/..", "a\x00b",
		"dir/", "...", " ", "\xff\xfe.sh", strings.Repeat("x", 300), "./x", "x/."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		base, err := SafeFileName(name)
		if err != nil {
			return
		}
		if base == "" || base == "." || base == ".." || strings.ContainsAny(base, "/\x00") {
			t.Fatalf("SafeFileName(%q) accepted %q", name, base)
		}
		if !strings.HasSuffix(strings.TrimRight(name, "/"), base) {
			t.Fatalf("SafeFileName(%q) = %q is not the end of the name", name, base)
		}
		const dir = "/home/alice/run"
		p := filepath.Join(dir, base)
		if filepath.Dir(p) != dir || !strings.HasPrefix(p, dir+"/") {
			t.Fatalf("%q joined to %s gives %s, outside the directory", base, dir, p)
		}
	})
}
