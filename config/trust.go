package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Notice is something about a settings file that Load does not count as a problem of the
// settings but that an admin must see: a file it refused to read (Refused), or a file named with
// --env-file that it read although someone other than root or the caller could have written it.
type Notice struct {
	File    string `json:"file"`
	Refused bool   `json:"refused"`
	Reason  string `json:"reason"`
}

func (n Notice) String() string {
	if n.Refused {
		return fmt.Sprintf("refusing to read the settings file %s: %s; going on without it (name it with --env-file to read it anyway)", n.File, n.Reason)
	}
	return fmt.Sprintf("warning: reading the settings file %s although %s: whoever can change it chooses what this command does", n.File, n.Reason)
}

// Untrusted says why a file with status fi (from Stat or Fstat, not Lstat) must not be trusted by
// this process to say what it does, or returns "" when it may be: its owner is root or the
// effective user, and neither its group nor other users may write it.
func Untrusted(fi fs.FileInfo) string {
	var why []string
	if w := untrustedOwner(fi); w != "" {
		why = append(why, w)
	}
	switch m := fi.Mode().Perm(); {
	case m&0o002 != 0:
		why = append(why, fmt.Sprintf("every user may write it (mode %04o)", m))
	case m&0o020 != 0:
		why = append(why, fmt.Sprintf("its group%s may write it (mode %04o)", groupName(fi), m))
	}
	return strings.Join(why, " and ")
}

// untrustedOwner says why fi's owner is not trusted ("" for root and the effective user).
func untrustedOwner(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "its owner cannot be read"
	}
	if euid := os.Geteuid(); st.Uid != 0 && int64(st.Uid) != int64(euid) {
		return fmt.Sprintf("it is owned by %s, neither root nor the caller (%s)", uidName(int64(st.Uid)), uidName(int64(euid)))
	}
	return ""
}

func uidName(uid int64) string {
	id := strconv.FormatInt(uid, 10)
	if u, err := user.LookupId(id); err == nil {
		return fmt.Sprintf("uid %s (%s)", id, u.Username)
	}
	return "uid " + id
}

func groupName(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	id := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return fmt.Sprintf(" (gid %s, %s)", id, g.Name)
	}
	return " (gid " + id + ")"
}

// displayPath is path as named, with its absolute form when it is relative ("./.env
// (/home/alice/.env)"), so that an admin sees which directory it came from.
// A path holding control characters (a directory a user named with an escape sequence) is
// quoted, so that the notice cannot act on the admin's terminal.
func displayPath(path string) string {
	if !filepath.IsAbs(path) {
		if abs, err := filepath.Abs(path); err == nil {
			return fmt.Sprintf("%s (%s)", quoteControls(path), quoteControls(abs))
		}
	}
	return quoteControls(path)
}

func quoteControls(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f || r == utf8.RuneError }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// openDotenv opens the settings file path for Load. A file nobody named (explicit false: ./.env or
// the snap's) is opened without following a symbolic link and is refused unless it is a regular
// file that Untrusted accepts: a user who can place ./.env where root runs a command must not
// choose root's settings (where NATS_LISTEN sends the token, which COMMAND_MAPPER_PATH runs). A
// file named with --env-file is the admin's choice and is read, with a notice when it fails the
// same check. It returns a nil file with a Refused notice, or with err (os.ErrNotExist included)
// when it cannot be opened.
func openDotenv(path string, explicit bool) (*os.File, *Notice, error) {
	shown := displayPath(path)
	if explicit {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		var why []string
		if lfi, err := os.Lstat(path); err == nil && lfi.Mode()&fs.ModeSymlink != 0 {
			if w := untrustedOwner(lfi); w != "" {
				why = append(why, "it is a symbolic link and "+strings.TrimPrefix(w, "it is "))
			}
		}
		if w := Untrusted(fi); w != "" {
			why = append(why, w)
		}
		if len(why) > 0 {
			return f, &Notice{File: shown, Reason: strings.Join(why, " and ")}, nil
		}
		return f, nil, nil
	}
	// O_NONBLOCK: a FIFO planted as .env must not block the open; it is refused below.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &Notice{File: shown, Refused: true, Reason: "it is a symbolic link"}, nil
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	why := Untrusted(fi)
	if !fi.Mode().IsRegular() {
		why = "it is not a regular file but " + kind(fi.Mode())
	}
	if why != "" {
		f.Close()
		return nil, &Notice{File: shown, Refused: true, Reason: why}, nil
	}
	return f, nil, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "of type " + m.Type().String()
}
