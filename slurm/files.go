package slurm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// ErrInvalidFileName is returned for a file name that has no usable base name.
var ErrInvalidFileName = errors.New("invalid file name")

// ErrRelativeDir is returned when an execution directory is not an absolute path.
var ErrRelativeDir = errors.New("Execution directory must be an absolute path")

// ErrDirNotUsable is returned when an execution directory does not exist or the user cannot
// write to it.
var ErrDirNotUsable = errors.New("Execution directory does not exist or is not writable by the user")

// MaxFileNameBytes is the longest file name, in bytes, the agent accepts from the API: the
// NAME_MAX of Linux file systems. A longer name is refused whole, never truncated.
const MaxFileNameBytes = 255

// SafeFileName reduces name to its final path component, so that "../../etc/x" becomes "x".
// Empty names, ".", "..", "/", names longer than MaxFileNameBytes and names containing NUL or
// another control character (a newline in a file name would forge lines in listings and logs)
// are rejected with ErrInvalidFileName. The result is one path component: joined to a
// directory it stays directly inside it. The submit path applies the stricter CheckFileName.
func SafeFileName(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: %q contains NUL", ErrInvalidFileName, name)
	}
	if len(name) > MaxFileNameBytes {
		return "", fmt.Errorf("%w: %d bytes long, more than %d", ErrInvalidFileName, len(name), MaxFileNameBytes)
	}
	if i := strings.IndexFunc(name, isControl); i >= 0 {
		return "", fmt.Errorf("%w: %q contains the control character %q", ErrInvalidFileName, name, name[i])
	}
	trimmed := strings.TrimRight(name, "/")
	if trimmed == "" {
		return "", fmt.Errorf("%w: %q", ErrInvalidFileName, name)
	}
	base := filepath.Base(trimmed)
	if base == "." || base == ".." || base == "/" || base == "" {
		return "", fmt.Errorf("%w: %q", ErrInvalidFileName, name)
	}
	return base, nil
}

// isControl reports C0 control characters and DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// CheckExecutionDir verifies, as the user, that dir is absolute, exists and is writable by the
// user (test -d, test -w run with the user's identity, so ACLs, root-squashed NFS and group
// permissions are judged the way the job will meet them). Errors wrap ErrRelativeDir or
// ErrDirNotUsable and name the directory and user.
func (c *Client) CheckExecutionDir(ctx context.Context, u User, dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%w: %q", ErrRelativeDir, dir)
	}
	// One process for both checks; dir is absolute, so test(1) cannot mistake it for an
	// operator.
	if _, err := c.RunAsUser(ctx, u, "", nil, "test", "-d", dir, "-a", "-w", dir); err != nil {
		var ce *CommandError
		if errors.As(err, &ce) {
			return fmt.Errorf("%w: %s (user %s)", ErrDirNotUsable, dir, u.Name)
		}
		return fmt.Errorf("check execution directory %s as %s: %w", dir, u.Name, err)
	}
	return nil
}

// WriteFile writes content to dir/SafeFileName(name) as the user, which the user then owns, and
// returns the path written. dir must be absolute. The write is atomic: tee (run with the user's
// identity, content on stdin) writes a temporary file beside the target, then mv renames it over
// the target, so two submissions writing the same name at once each leave a whole file, never a
// mix of both.
func (c *Client) WriteFile(ctx context.Context, u User, dir, name string, content []byte) (string, error) {
	base, err := SafeFileName(name)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("write %s: %w: %q", base, ErrRelativeDir, dir)
	}
	path := filepath.Join(dir, base)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+base+".jbg-"+hex.EncodeToString(rnd[:]))
	if _, err := c.runAsUser(ctx, u, "", bytes.NewReader(content), io.Discard, "tee", "--", tmp); err != nil {
		_, _ = c.RunAsUser(context.WithoutCancel(ctx), u, "", nil, "rm", "-f", "--", tmp)
		return "", fmt.Errorf("write %s as %s: %w", path, u.Name, err)
	}
	if _, err := c.RunAsUser(ctx, u, "", nil, "mv", "-f", "-T", "--", tmp, path); err != nil {
		_, _ = c.RunAsUser(context.WithoutCancel(ctx), u, "", nil, "rm", "-f", "--", tmp)
		return "", fmt.Errorf("write %s as %s: %w", path, u.Name, err)
	}
	return path, nil
}
