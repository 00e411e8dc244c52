package submit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
	"golang.org/x/sync/errgroup"
)

// Base messages of the rejection reports (the reference's wording, spec 8.4).
const (
	msgUnmapped   = "Username could not be resolved from owner email"
	msgBadDir     = "Execution directory is invalid"
	msgFiles      = "Error processing job-script files"
	msgSbatch     = "Failed to submit job to slurm"
	msgNoEntry    = "Could not find an executable script in retrieved job script data."
	msgNoSupports = "Job submission rejected. The submission has supporting files that can't be downloaded to the execution dir. Set `WRITE_SUBMISSION_FILES` setting to `True` to download the job script files to the execution dir."
)

// prepared is a submission ready for sbatch.
type prepared struct {
	user       slurm.User
	dir        string
	scriptPath string // the written entrypoint, when files are written
	script     []byte // the entrypoint for sbatch's stdin otherwise
}

// prepare maps the owner, checks the execution directory, downloads the files and writes them
// as the user. It returns either a rejection message (a permanent problem of the submission) or
// an error (transient: retry), or the prepared submission.
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
	dir := strings.ReplaceAll(h.o.DefaultWorkDir, "{username}", username)
	if sub.ExecutionDirectory != nil && *sub.ExecutionDirectory != "" {
		dir = *sub.ExecutionDirectory
	}
	if err := h.o.Slurm.CheckExecutionDir(ctx, u, dir); err != nil {
		if errors.Is(err, slurm.ErrRelativeDir) || errors.Is(err, slurm.ErrDirNotUsable) {
			return prepared{}, msgBadDir + " -- " + err.Error(), nil
		}
		return prepared{}, "", fmt.Errorf("check execution directory of submission %d: %w", sub.ID, err)
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
	if len(files) > 1 && !h.o.WriteSubmissionFiles {
		return prepared{}, msgFiles + " -- " + msgNoSupports, nil
	}
	if h.o.WriteSubmissionFiles {
		for _, f := range files {
			if _, err := slurm.SafeFileName(f.Filename); err != nil {
				return prepared{}, msgFiles + " -- " + err.Error(), nil
			}
		}
	}

	contents, err := h.download(ctx, files)
	if jobbergate.IsStatus(err, 404) {
		return prepared{}, msgFiles + " -- " + err.Error(), nil
	}
	if err != nil {
		return prepared{}, "", err
	}
	script := []byte(slurm.InjectSbatchArguments(string(contents[0]), sub.SbatchArguments, slurm.InjectionHeader))
	// sbatch always reads this submission's own script on stdin, even when the files are also
	// written: another submission writing the same file name into the same directory at the
	// same time can then never change the script this job runs.
	p := prepared{user: u, dir: dir, script: script}
	if !h.o.WriteSubmissionFiles {
		return p, "", nil
	}
	contents[0] = script
	for i, f := range files {
		path, err := h.o.Slurm.WriteFile(ctx, u, dir, f.Filename, contents[i])
		if err != nil {
			var ce *slurm.CommandError
			if errors.As(err, &ce) || errors.Is(err, slurm.ErrInvalidFileName) {
				return prepared{}, msgFiles + " -- " + err.Error(), nil
			}
			return prepared{}, "", fmt.Errorf("write files of submission %d: %w", sub.ID, err)
		}
		if i == 0 {
			p.scriptPath = path
		}
	}
	return p, "", nil
}

// download fetches every file concurrently (at most DownloadConcurrency at a time) and returns
// their contents in the order of files. The first error cancels the others and is returned.
func (h *Handler) download(ctx context.Context, files []jobbergate.JobScriptFile) ([][]byte, error) {
	out := make([][]byte, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.o.DownloadConcurrency)
	for i, f := range files {
		g.Go(func() error {
			b, err := h.o.API.DownloadFile(gctx, f.ParentID, f.Filename)
			if err != nil {
				return err
			}
			out[i] = b
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// transientSbatch are the texts of sbatch failures that say slurmctld could not be reached or
// was busy: retried, never rejected.
var transientSbatch = []string{
	"socket timed out",
	"try again",
	"unable to contact slurm controller",
	"resource temporarily unavailable",
	"slurm temporarily unable",
}

// sbatchRejection returns the rejection message for an sbatch failure that is the submission's
// fault (sbatch ran and refused the job), with sbatch's stderr verbatim; ok is false for
// failures to retry (transient controller errors, sbatch not started, cancelled, unparsable
// output: the job may exist and is found by marker on the next attempt).
func sbatchRejection(err error) (msg string, ok bool) {
	var ce *slurm.CommandError
	if !errors.As(err, &ce) {
		return "", false
	}
	text := strings.ToLower(ce.Stderr + "\n" + ce.Stdout)
	for _, t := range transientSbatch {
		if strings.Contains(text, t) {
			return "", false
		}
	}
	detail := strings.TrimRight(ce.Stderr, "\n")
	if strings.TrimSpace(detail) == "" {
		detail = ce.Error()
	}
	return msgSbatch + " -- " + detail, true
}
