package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUntrustedCacheFile is returned (wrapped) by ReadCacheFile for a file or directory that a
// user other than root or the caller could have written.
var ErrUntrustedCacheFile = errors.New("not the agent's own")

// ReadCacheFile reads the file name in CACHE_DIR dir, at most max bytes, only when nobody but
// root or the caller could have put it there: dir and the file must pass Untrusted, the file is
// opened without following a symbolic link (and without blocking on a FIFO) and must be a
// regular file. It returns the content and the status of the file it read (for checks of the
// caller's own, such as its mode). A refusal wraps ErrUntrustedCacheFile and says why; a missing
// file wraps os.ErrNotExist.
func ReadCacheFile(dir, name string, max int64) ([]byte, fs.FileInfo, error) {
	di, err := os.Stat(dir)
	if err != nil {
		return nil, nil, err
	}
	if why := Untrusted(di); why != "" {
		return nil, nil, fmt.Errorf("CACHE_DIR %s is %w: %s", displayPath(dir), ErrUntrustedCacheFile, why)
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, nil, fmt.Errorf("%s is %w: it is a symbolic link", displayPath(path), ErrUntrustedCacheFile)
		}
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	why := Untrusted(fi)
	if !fi.Mode().IsRegular() {
		why = "it is not a regular file but " + kind(fi.Mode())
	}
	if why != "" {
		return nil, nil, fmt.Errorf("%s is %w: %s", displayPath(path), ErrUntrustedCacheFile, why)
	}
	b, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil {
		return nil, nil, err
	}
	return b, fi, nil
}
