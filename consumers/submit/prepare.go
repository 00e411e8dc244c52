package submit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
	"golang.org/x/sync/errgroup"
)

// prepared is a submission ready for sbatch.
type prepared struct {
	user       slurm.User
	dir        string // the execution directory with symbolic links resolved
	scriptPath string // the written entrypoint, when files are written
	script     []byte // the entrypoint for sbatch's stdin otherwise
	jobName    string // the entrypoint's file name: the job's name unless the script sets one
	// held gives back the entrypoint's share of the download budget; nil when none is held.
	held func()
}

// release gives back what p holds of the download budget. Safe on the zero value.
func (p prepared) release() {
	if p.held != nil {
		p.held()
	}
}

// prepare maps the owner, checks the submission's data, the execution directory, downloads the
// files and writes them as the user. It returns the prepared submission, or an error: a
// *RejectionError for a permanent problem of the submission, any other error for a transient one
// (retry), an *ownerBusyError or errStopping for an admission not given (see ownerLimits). The
// admission it takes is left in d.adm for the caller to give back.
//
// Hostile data is refused before anything runs as the user, in this order: an owner mapped to
// root or to a system account (uid below MinSubmitUID); sbatch arguments with a line break or
// another control character (they would add lines, i.e. commands, to the script); file names
// that are absolute, hold a ".." component, NUL or a control character, are longer than 255
// bytes, or collide once reduced to their last component (slurm.CheckFileName). Then the
// execution directory must be absolute and resolve (as the user) to a directory the user can
// write, whoever owns it (a group project area counts); that resolved path is used from then on. Each file
// is downloaded with a MaxFileBytes bound (a larger one rejects the submission without being
// read whole). File contents are passed through byte for byte: a script in Latin-1 or any other
// encoding is written and submitted unchanged (sbatch and the shell read bytes, not UTF-8).
func (d *delivery) prepare(ctx context.Context) (prepared, error) {
	sub := d.sub
	username, err := d.o.Mapper.Username(ctx, sub.OwnerEmail)
	if usermap.IsNotFound(err) {
		return prepared{}, rejection(msgUnmapped + ": " + err.Error())
	}
	if err != nil {
		return prepared{}, fmt.Errorf("map owner email of submission %d: %w", sub.ID, err)
	}
	u, err := d.o.Slurm.LookupUser(username)
	if errors.Is(err, slurm.ErrUnknownUser) || errors.Is(err, slurm.ErrRootUser) {
		return prepared{}, rejection(msgBadDir + " -- " + err.Error())
	}
	if err != nil {
		return prepared{}, fmt.Errorf("look up local user of submission %d: %w", sub.ID, err)
	}
	if d.o.MinSubmitUID > 0 {
		if err := slurm.CheckSubmitUID(u, uint32(d.o.MinSubmitUID)); err != nil {
			return prepared{}, rejection(msgBadUser + " -- " + err.Error())
		}
	}
	if err := slurm.CheckSbatchArguments(sub.SbatchArguments); err != nil {
		return prepared{}, rejection(msgBadArgs + " -- " + err.Error())
	}

	entry, ok := sub.JobScript.Entrypoint()
	if !ok {
		return prepared{}, rejection(msgFiles + " -- " + msgNoEntry)
	}
	files := []jobbergate.JobScriptFile{entry}
	for _, f := range sub.JobScript.Files {
		if f.FileType == jobbergate.FileTypeSupport {
			files = append(files, f)
		}
	}
	names := make([]string, len(files))
	for i, f := range files {
		if _, err := slurm.CheckFileName(f.Filename); err != nil {
			return prepared{}, rejection(msgFiles + " -- " + err.Error())
		}
		if !d.o.AllowHiddenFiles {
			if err := slurm.CheckHiddenName(f.Filename); err != nil {
				return prepared{}, rejection(msgFiles + " -- " + err.Error() + "; this cluster does not accept hidden file names (the site setting ALLOW_HIDDEN_FILES allows them)")
			}
		}
		names[i] = f.Filename
	}
	if err := slurm.DuplicateFileNames(names); err != nil {
		return prepared{}, rejection(msgFiles + " -- " + err.Error())
	}
	if len(files) > 1 && !d.o.WriteSubmissionFiles {
		return prepared{}, rejection(msgFiles + " -- " + msgNoSupports)
	}

	// Admission among the owner's deliveries before anything runs as the owner or is held of the
	// download budget: see ownerLimits. errOwnerBusy and errStopping are the caller's to map.
	if d.adm, err = d.owners.admit(ctx, username); err != nil {
		return prepared{}, err
	}

	dir := strings.ReplaceAll(d.o.DefaultWorkDir, "{username}", username)
	if sub.ExecutionDirectory != nil && *sub.ExecutionDirectory != "" {
		dir = *sub.ExecutionDirectory
	}
	dir, err = d.o.Slurm.ResolveExecutionDir(ctx, u, dir)
	if err != nil {
		if errors.Is(err, slurm.ErrRelativeDir) || errors.Is(err, slurm.ErrDirNotUsable) || errors.Is(err, slurm.ErrInvalidDirName) {
			return prepared{}, rejection(msgBadDir + " -- " + err.Error())
		}
		return prepared{}, fmt.Errorf("check execution directory of submission %d: %w", sub.ID, err)
	}

	content, held, err := d.transfer(ctx, u, dir, files)
	if err != nil {
		return prepared{}, err
	}
	// Past this point every return hands held on (in p) or gives it back.
	handedOn := false
	defer func() {
		if !handedOn {
			held()
		}
	}()
	script := []byte(slurm.InjectSbatchArguments(string(content), sub.SbatchArguments, slurm.InjectionHeader))
	// sbatch always reads this submission's own script on stdin, even when the files are also
	// written: another submission writing the same file name into the same directory at the
	// same time can then never change the script this job runs.
	jobName, _ := slurm.CheckFileName(entry.Filename) // checked above
	p := prepared{user: u, dir: dir, script: script, held: held, jobName: jobName}
	if !d.o.WriteSubmissionFiles {
		handedOn = true
		return p, nil
	}
	path, err := d.o.Slurm.WriteFile(ctx, u, dir, entry.Filename, script)
	if rej := writeRejection(err); rej != nil {
		return prepared{}, rej
	}
	if err != nil {
		return prepared{}, fmt.Errorf("write files of submission %d: %w", sub.ID, err)
	}
	p.scriptPath = path
	handedOn = true
	return p, nil
}

// fileError is the failure of one file's download or write.
type fileError struct {
	name string
	err  error
}

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// transfer downloads files (files[0] is the entrypoint) at most DownloadConcurrency at a time,
// each bounded by MaxFileBytes, and returns the entrypoint's content. Every download first
// reserves MaxFileBytes of its owner's share of the budget (half of it, see ownerLimits) and
// of the handler's DownloadBudget (shared by all deliveries) and keeps the file's size of them
// once read: supporting files give it back once written as the user, the entrypoint's share is
// returned as held for the caller to give back after sbatch. So all deliveries together never
// hold more than DownloadBudget of files in memory, and one owner's never more than half. The
// first failure cancels the other transfers; it is returned as a *RejectionError when it is the
// submission's fault (file missing, too large, write refused), as it is otherwise.
func (d *delivery) transfer(ctx context.Context, u slurm.User, dir string, files []jobbergate.JobScriptFile) (entry []byte, held func(), err error) {
	var entryHeld int64
	reserve := min(d.o.MaxFileBytes, d.o.DownloadBudget)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.o.DownloadConcurrency)
	for i, f := range files {
		g.Go(func() error {
			if err := d.takeBytes(gctx, reserve); err != nil {
				return err
			}
			b, err := d.o.API.DownloadFile(gctx, f.ParentID, f.Filename, d.o.MaxFileBytes)
			keep := min(int64(len(b)), reserve)
			d.giveBytes(reserve - keep)
			if err != nil {
				d.giveBytes(keep)
				return &fileError{name: f.Filename, err: err}
			}
			if i == 0 {
				entry, entryHeld = b, keep
				return nil
			}
			defer d.giveBytes(keep)
			if _, err := d.o.Slurm.WriteFile(gctx, u, dir, f.Filename, b); err != nil {
				return &fileError{name: f.Filename, err: err}
			}
			return nil
		})
	}
	err = g.Wait()
	var once sync.Once
	held = func() { once.Do(func() { d.giveBytes(entryHeld) }) }
	if err == nil {
		return entry, held, nil
	}
	held()
	var fe *fileError
	errors.As(err, &fe)
	switch {
	case errors.Is(err, jobbergate.ErrFileTooLarge):
		return nil, nil, rejection(fmt.Sprintf("%s -- file %q is larger than %s, the largest file this cluster accepts (%d bytes)",
			msgFiles, fe.name, humanBytes(d.o.MaxFileBytes), d.o.MaxFileBytes))
	case jobbergate.IsStatus(err, 404):
		return nil, nil, rejection(msgFiles + " -- " + err.Error())
	}
	if rej := writeRejection(err); rej != nil {
		return nil, nil, rej
	}
	return nil, nil, err
}

// takeBytes waits for n bytes of the owner's share of the download budget, then of the
// handler's budget.
func (d *delivery) takeBytes(ctx context.Context, n int64) error {
	if err := d.adm.takeBytes(ctx, n); err != nil {
		return err
	}
	if err := d.budget.Acquire(ctx, n); err != nil {
		d.adm.giveBytes(n)
		return err
	}
	return nil
}

// giveBytes gives n bytes back to the handler's budget and the owner's share.
func (d *delivery) giveBytes(n int64) {
	if n > 0 {
		d.budget.Release(n)
		d.adm.giveBytes(n)
	}
}

// humanBytes writes n in the largest binary unit that divides it, e.g. "16 MiB".
func humanBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
