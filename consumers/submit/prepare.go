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

// Base messages of the rejection reports (the reference's wording, spec 8.4, and this agent's
// own for the checks it adds).
const (
	msgUnmapped   = "Username could not be resolved from owner email"
	msgBadDir     = "Execution directory is invalid"
	msgFiles      = "Error processing job-script files"
	msgSbatch     = "Failed to submit job to slurm"
	msgNoEntry    = "Could not find an executable script in retrieved job script data."
	msgNoSupports = "Job submission rejected. The submission has supporting files that can't be downloaded to the execution dir. Set `WRITE_SUBMISSION_FILES` setting to `True` to download the job script files to the execution dir."
	msgBadUser    = "Local user is not allowed to submit jobs"
	msgBadArgs    = "Invalid sbatch arguments"
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
// files and writes them as the user. It returns either a rejection message (a permanent problem
// of the submission) or an error (transient: retry), or the prepared submission.
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
func (h *Handler) prepare(ctx context.Context, sub *jobbergate.PendingSubmission) (prepared, string, error) {
	username, err := h.o.Mapper.Username(ctx, sub.OwnerEmail)
	if usermap.IsNotFound(err) {
		return prepared{}, msgUnmapped + ": " + err.Error(), nil
	}
	if err != nil {
		return prepared{}, "", fmt.Errorf("map owner email of submission %d: %w", sub.ID, err)
	}
	u, err := h.o.Slurm.LookupUser(username)
	if errors.Is(err, slurm.ErrUnknownUser) || errors.Is(err, slurm.ErrRootUser) {
		return prepared{}, msgBadDir + " -- " + err.Error(), nil
	}
	if err != nil {
		return prepared{}, "", fmt.Errorf("look up local user of submission %d: %w", sub.ID, err)
	}
	if h.o.MinSubmitUID > 0 {
		if err := slurm.CheckSubmitUID(u, uint32(h.o.MinSubmitUID)); err != nil {
			return prepared{}, msgBadUser + " -- " + err.Error(), nil
		}
	}
	if err := slurm.CheckSbatchArguments(sub.SbatchArguments); err != nil {
		return prepared{}, msgBadArgs + " -- " + err.Error(), nil
	}

	entry, ok := sub.JobScript.Entrypoint()
	if !ok {
		return prepared{}, msgFiles + " -- " + msgNoEntry, nil
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
			return prepared{}, msgFiles + " -- " + err.Error(), nil
		}
		if !h.o.AllowHiddenFiles {
			if err := slurm.CheckHiddenName(f.Filename); err != nil {
				return prepared{}, msgFiles + " -- " + err.Error() + "; this cluster does not accept hidden file names (the site setting ALLOW_HIDDEN_FILES allows them)", nil
			}
		}
		names[i] = f.Filename
	}
	if err := slurm.DuplicateFileNames(names); err != nil {
		return prepared{}, msgFiles + " -- " + err.Error(), nil
	}
	if len(files) > 1 && !h.o.WriteSubmissionFiles {
		return prepared{}, msgFiles + " -- " + msgNoSupports, nil
	}

	dir := strings.ReplaceAll(h.o.DefaultWorkDir, "{username}", username)
	if sub.ExecutionDirectory != nil && *sub.ExecutionDirectory != "" {
		dir = *sub.ExecutionDirectory
	}
	dir, err = h.o.Slurm.ResolveExecutionDir(ctx, u, dir)
	if err != nil {
		if errors.Is(err, slurm.ErrRelativeDir) || errors.Is(err, slurm.ErrDirNotUsable) || errors.Is(err, slurm.ErrInvalidDirName) {
			return prepared{}, msgBadDir + " -- " + err.Error(), nil
		}
		return prepared{}, "", fmt.Errorf("check execution directory of submission %d: %w", sub.ID, err)
	}

	content, held, rejection, err := h.transfer(ctx, u, dir, files)
	if rejection != "" || err != nil {
		return prepared{}, rejection, err
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
	if !h.o.WriteSubmissionFiles {
		handedOn = true
		return p, "", nil
	}
	path, err := h.o.Slurm.WriteFile(ctx, u, dir, entry.Filename, script)
	if msg, ok := writeRejection(err); ok {
		return prepared{}, msg, nil
	}
	if err != nil {
		return prepared{}, "", fmt.Errorf("write files of submission %d: %w", sub.ID, err)
	}
	p.scriptPath = path
	handedOn = true
	return p, "", nil
}

// writeRejection returns the rejection for a WriteFile failure that is the submission's fault
// (the write was refused to the user's identity, or the name is refused).
func writeRejection(err error) (string, bool) {
	var we *slurm.FileWriteError
	if errors.As(err, &we) || errors.Is(err, slurm.ErrInvalidFileName) {
		return msgFiles + " -- " + err.Error(), true
	}
	return "", false
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
// reserves MaxFileBytes of the handler's DownloadBudget (shared by all deliveries) and keeps
// the file's size of it once read: supporting files give it back once written as the user,
// the entrypoint's share is returned as held for the caller to give back after sbatch. So all
// deliveries together never hold more than DownloadBudget of files in memory. The first failure
// cancels the other transfers; it is returned as a rejection message when it is the
// submission's fault (file missing, too large, write refused), as an error otherwise.
func (h *Handler) transfer(ctx context.Context, u slurm.User, dir string, files []jobbergate.JobScriptFile) (entry []byte, held func(), rejection string, err error) {
	var entryHeld int64
	reserve := min(h.o.MaxFileBytes, h.o.DownloadBudget)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.o.DownloadConcurrency)
	for i, f := range files {
		g.Go(func() error {
			if err := h.budget.Acquire(gctx, reserve); err != nil {
				return err
			}
			b, err := h.o.API.DownloadFile(gctx, f.ParentID, f.Filename, h.o.MaxFileBytes)
			keep := min(int64(len(b)), reserve)
			h.budget.Release(reserve - keep)
			if err != nil {
				h.budget.Release(keep)
				return &fileError{name: f.Filename, err: err}
			}
			if i == 0 {
				entry, entryHeld = b, keep
				return nil
			}
			defer h.budget.Release(keep)
			if _, err := h.o.Slurm.WriteFile(gctx, u, dir, f.Filename, b); err != nil {
				return &fileError{name: f.Filename, err: err}
			}
			return nil
		})
	}
	err = g.Wait()
	var once sync.Once
	held = func() { once.Do(func() { h.budget.Release(entryHeld) }) }
	if err == nil {
		return entry, held, "", nil
	}
	held()
	var fe *fileError
	errors.As(err, &fe)
	switch {
	case errors.Is(err, jobbergate.ErrFileTooLarge):
		return nil, nil, fmt.Sprintf("%s -- file %q is larger than %s, the largest file this cluster accepts (%d bytes)",
			msgFiles, fe.name, humanBytes(h.o.MaxFileBytes), h.o.MaxFileBytes), nil
	case jobbergate.IsStatus(err, 404):
		return nil, nil, msgFiles + " -- " + err.Error(), nil
	}
	if msg, ok := writeRejection(err); ok {
		return nil, nil, msg, nil
	}
	return nil, nil, "", err
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

// transientSbatch are the messages Slurm itself gives (slurm_strerror) for a submission that
// failed because slurmctld could not be reached or was busy, as sbatch prints them after its
// "Batch job submission failed: " prefix: retried, never rejected. Only the whole message
// counts, so no text a submitter controls (a partition or account name echoed in another error
// line) can make a refused job look transient.
var transientSbatch = map[string]bool{
	"Socket timed out on send/recv operation":                       true,
	"Unable to contact slurm controller (connect failure)":          true,
	"Resource temporarily unavailable":                              true,
	"Zero Bytes were transmitted or received":                       true,
	"Communication connection failure":                              true,
	"Slurm backup controller in standby mode":                       true,
	"Slurm temporarily unable to accept job, sleeping and retrying": true,
	"Slurmctld is busy, try again later":                            true,
	"Connection refused":                                            true,
}

// sbatchFailedPrefix starts sbatch's own line saying why slurmctld refused or failed the job.
const sbatchFailedPrefix = "sbatch: error: Batch job submission failed: "

// transientSbatchFailure reports whether sbatch exited 1 with a "Batch job submission failed"
// line whose message is one of transientSbatch.
func transientSbatchFailure(ce *slurm.CommandError) bool {
	if ce.ExitCode != 1 {
		return false
	}
	for _, line := range strings.Split(ce.Stderr, "\n") {
		if msg, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), sbatchFailedPrefix); ok && transientSbatch[strings.TrimSpace(msg)] {
			return true
		}
	}
	return false
}

// sbatchRejection returns the rejection message for an sbatch failure that is the submission's
// fault (sbatch ran and refused the job), with sbatch's stderr verbatim; ok is false for
// failures to retry (transient controller errors, decided on sbatch's exit status and its own
// error line, not on text the submitter controls; sbatch not started or killed, cancelled,
// unparsable output: the job may exist and is found by marker on the next attempt).
func sbatchRejection(err error) (msg string, ok bool) {
	var ce *slurm.CommandError
	if !errors.As(err, &ce) || transientSbatchFailure(ce) {
		return "", false
	}
	detail := strings.TrimRight(ce.Stderr, "\n")
	if strings.TrimSpace(detail) == "" {
		detail = ce.Error()
	}
	return msgSbatch + " -- " + detail, true
}
