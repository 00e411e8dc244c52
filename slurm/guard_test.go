package slurm

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckFileName(t *testing.T) {
	tests := []struct {
		in, want string
		errPart  string // empty: accepted
	}{
		{in: "job.sh", want: "job.sh"},
		{in: "inputs/data.csv", want: "data.csv"},
		{in: "a b/ü.py", want: "ü.py"},
		{in: "...", want: "..."},
		{in: "..x", want: "..x"},
		{in: "../../etc/cron.d/x", errPart: "'..' component"},
		{in: "a/../b", errPart: "'..' component"},
		{in: "a/..", errPart: `"a/.."`},
		{in: "/etc/passwd", errPart: "absolute path"},
		{in: "x\x00y", errPart: "NUL"},
		{in: "job\n.sh", errPart: "control character"},
		{in: "job\r.sh", errPart: "control character"},
		{in: "job\x7f.sh", errPart: "control character"},
		{in: strings.Repeat("x", 256), errPart: "256 bytes long, more than 255"},
		{in: strings.Repeat("d/", 130) + "x", errPart: "more than 255"},
		{in: "", errPart: `""`},
		{in: ".", errPart: `"."`},
		{in: "dir/", want: "dir"},
	}
	for _, tt := range tests {
		got, err := CheckFileName(tt.in)
		if tt.errPart == "" {
			if err != nil || got != tt.want {
				t.Errorf("CheckFileName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidFileName) || !strings.Contains(err.Error(), tt.errPart) {
			t.Errorf("CheckFileName(%q) = %q, %v; want ErrInvalidFileName mentioning %q", tt.in, got, err, tt.errPart)
		}
	}
	if b, err := CheckFileName(strings.Repeat("x", 255)); err != nil || len(b) != 255 {
		t.Errorf("a 255-byte name: %d, %v", len(b), err)
	}
}

func TestSafeFileNameRejectsLongAndControl(t *testing.T) {
	for _, in := range []string{strings.Repeat("y", 256), "a\nb", "a\tb", "\x1b[31mred"} {
		if got, err := SafeFileName(in); !errors.Is(err, ErrInvalidFileName) {
			t.Errorf("SafeFileName(%q) = %q, %v; want ErrInvalidFileName", in, got, err)
		}
	}
}

func TestDuplicateFileNames(t *testing.T) {
	if err := DuplicateFileNames([]string{"job.sh", "a/in.txt", "b/out.txt"}); err != nil {
		t.Errorf("distinct names: %v", err)
	}
	err := DuplicateFileNames([]string{"job.sh", "a/in.txt", "b/in.txt"})
	if !errors.Is(err, ErrInvalidFileName) || !strings.Contains(err.Error(), `"a/in.txt" and "b/in.txt"`) {
		t.Errorf("colliding names: %v", err)
	}
}

func TestCheckSbatchArguments(t *testing.T) {
	tests := []struct {
		args    []string
		errPart string
	}{
		{args: nil},
		{args: []string{"--time=1", "--job-name=a b", "--comment=tab\there", "--wrap=ünïcode"}},
		{args: []string{"--time=1", "--hold\nrm -rf ~"}, errPart: `argument 2 "--hold\nrm -rf ~" contains a newline`},
		{args: []string{"--x\r"}, errPart: "carriage return"},
		{args: []string{"--x\x00y"}, errPart: "NUL"},
		{args: []string{"--x\vy"}, errPart: "U+000B"},
		{args: []string{"--x\fy"}, errPart: "U+000C"},
		{args: []string{"--x\u2028y"}, errPart: "U+2028"},
		{args: []string{"--x\u2029y"}, errPart: "U+2029"},
		{args: []string{"--x\u0085y"}, errPart: "U+0085"},
		{args: []string{"--x\x7fy"}, errPart: "U+007F"},
	}
	for _, tt := range tests {
		err := CheckSbatchArguments(tt.args)
		if tt.errPart == "" {
			if err != nil {
				t.Errorf("CheckSbatchArguments(%q) = %v", tt.args, err)
			}
			continue
		}
		if !errors.Is(err, ErrUnsafeSbatchArgument) || !strings.Contains(err.Error(), tt.errPart) {
			t.Errorf("CheckSbatchArguments(%q) = %v; want ErrUnsafeSbatchArgument mentioning %q", tt.args, err, tt.errPart)
		}
	}
	// The accepted arguments never add a line beyond their own once injected.
	for _, tt := range tests {
		if tt.errPart != "" {
			continue
		}
		script := "#!/bin/sh\necho hi\n"
		out := InjectSbatchArguments(script, tt.args, "")
		want := strings.Count(script, "\n") + len(tt.args)
		if len(tt.args) > 0 {
			want++ // the empty line after the block
		}
		if got := strings.Count(out, "\n"); got != want {
			t.Errorf("injecting %q gives %d lines, want %d", tt.args, got, want)
		}
	}
}

func TestCheckSubmitUID(t *testing.T) {
	tests := []struct {
		uid, min uint32
		ok       bool
	}{
		{1001, 1000, true}, {1000, 1000, true}, {999, 1000, false}, {1, 1000, false},
		{0, 1000, true}, // root is ErrRootUser's business
		{5, 0, true}, {5, 1, true},
	}
	for _, tt := range tests {
		err := CheckSubmitUID(User{Name: "u", UID: tt.uid}, tt.min)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSystemUser)) {
			t.Errorf("uid %d min %d: %v", tt.uid, tt.min, err)
		}
	}
}
