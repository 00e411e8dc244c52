package slurm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// FileWriteError is a file the user's identity could not write (permission, quota, full disk,
// a name taken by a directory...): the submission's problem, reported to its owner.
type FileWriteError struct {
	Path string
	User string
	Err  error
}

func (e *FileWriteError) Error() string {
	return fmt.Sprintf("write %s as %s: %v", e.Path, e.User, e.Err)
}

func (e *FileWriteError) Unwrap() error { return e.Err }

// WriteFile writes content to dir/SafeFileName(name) with the user's file-system identity (see
// asUser: the kernel checks every step as the user, and the user owns the file), inside the
// agent, and returns the path written. dir must be absolute. The write is atomic: a temporary
// file is created beside the target (O_EXCL, O_NOFOLLOW, mode 0666 minus the umask, like a
// shell redirection), written and renamed over the target, so two submissions writing the same
// name at once each leave a whole file, never a mix of both. A failure the user's identity
// meets is a *FileWriteError; the temporary file is removed.
func (c *Client) WriteFile(ctx context.Context, u User, dir, name string, content []byte) (string, error) {
	base, err := SafeFileName(name)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("write %s: %w: %q", base, ErrRelativeDir, dir)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("write %s: %w", base, err)
	}
	path := filepath.Join(dir, base)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+base+".jbg-"+hex.EncodeToString(rnd[:]))
	var werr error
	err = asUser(u, c.opts.AllowRoot, func() error {
		werr = writeAndRename(tmp, path, content)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("write %s as %s: %w", path, u.Name, err)
	}
	if werr != nil {
		return "", &FileWriteError{Path: path, User: u.Name, Err: werr}
	}
	return path, nil
}

// writeAndRename writes content to the new file tmp and renames it to path; on failure tmp is
// removed.
func writeAndRename(tmp, path string, content []byte) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o666)
	if err != nil {
		return err
	}
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
