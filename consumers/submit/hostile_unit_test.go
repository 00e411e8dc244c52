package submit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
)

// resolvingSlurm is fakeSlurm with symlink resolution: every directory resolves to "/real"
// + dir, except those under /elsewhere, which the user cannot write.
type resolvingSlurm struct {
	*fakeSlurm
}

func (s *resolvingSlurm) ResolveExecutionDir(ctx context.Context, u slurm.User, dir string) (string, error) {
	if strings.HasPrefix(dir, "/elsewhere") {
		return "", fmt.Errorf("%w: %s (user %s)", slurm.ErrDirNotUsable, dir, u.Name)
	}
	if _, err := s.fakeSlurm.ResolveExecutionDir(ctx, u, dir); err != nil {
		return "", err
	}
	return "/real" + dir, nil
}

// TestHostileDecisions is the decision side of the submit guards, without Slurm: each hostile
// input rejects (ack, one rejection naming the problem, no sbatch, no file written), a
// transient download failure retries, and accepted submissions use the resolved directory.
func TestHostileDecisions(t *testing.T) {
	b, topo := newBroker(t, nil)
	kv := claimsBucket(t, b, topo)
	file := func(name, typ string) jobbergate.JobScriptFile {
		return jobbergate.JobScriptFile{ParentID: 7, Filename: name, FileType: jobbergate.FileType(typ)}
	}
	entry := file("job.sh", "ENTRYPOINT")
	withArgs := func(s jobbergate.PendingSubmission, args ...string) jobbergate.PendingSubmission {
		s.SbatchArguments = args
		return s
	}
	tests := []struct {
		name     string
		sub      jobbergate.PendingSubmission
		write    bool
		opts     func(*Options)
		setup    func(*fakeAPI)
		want     string // ack or retry
		rejected string // substring of the one rejection; "" = none
		submits  int
	}{
		{name: "file too large", sub: newSubmission("alice@x", nil), want: "ack",
			setup: func(a *fakeAPI) {
				a.downloadEr = &jobbergate.APIError{Message: "Failed to download", Err: fmt.Errorf("%w: more than 1", jobbergate.ErrFileTooLarge)}
			},
			rejected: `file "job.sh" is larger than 16 MiB, the largest file this cluster accepts (16777216 bytes)`},
		{name: "file too large, custom limit", sub: newSubmission("alice@x", nil), want: "ack",
			opts: func(o *Options) { o.MaxFileBytes = 3000 },
			setup: func(a *fakeAPI) {
				a.downloadEr = &jobbergate.APIError{Message: "Failed to download", Err: jobbergate.ErrFileTooLarge}
			},
			rejected: "larger than 3000 bytes"},
		{name: "download 503 retries", sub: newSubmission("alice@x", nil), want: "retry",
			setup: func(a *fakeAPI) { a.downloadEr = apiErr(503) }},
		{name: "uid below the minimum", sub: newSubmission("alice@x", nil), want: "ack",
			opts:     func(o *Options) { o.MinSubmitUID = 1001 },
			rejected: `Local user is not allowed to submit jobs -- refusing to submit as a system account: user "alice" has uid 1000, below the minimum uid 1001`},
		{name: "minimum uid disabled", sub: newSubmission("alice@x", nil), want: "ack", submits: 1,
			opts: func(o *Options) { o.MinSubmitUID = -1 }},
		{name: "traversal name without writing files", sub: newSubmission("alice@x", nil, file("../job.sh", "ENTRYPOINT")), want: "ack",
			rejected: `Error processing job-script files -- invalid file name: "../job.sh" contains a '..' component`},
		{name: "traversal support name", sub: newSubmission("alice@x", nil, entry, file("x/../../y", "SUPPORT")), write: true, want: "ack",
			rejected: `"x/../../y" contains a '..' component`},
		{name: "newline argument", sub: withArgs(newSubmission("alice@x", nil), "--hold", "--x\nrm -rf ~"), want: "ack",
			rejected: `Invalid sbatch arguments -- sbatch argument would add lines to the job script: argument 2 "--x\nrm -rf ~" contains a newline`},
		{name: "a directory the user cannot write", sub: newSubmission("alice@x", strp("/elsewhere/x")), want: "ack",
			rejected: "Execution directory is invalid -- Execution directory does not exist or is not writable by the user: /elsewhere/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n"), "7/data.txt": []byte("d")}}
			sl := &resolvingSlurm{fakeSlurm: newFakeSlurm()}
			o := Options{API: api, Slurm: sl, Claims: kv, JetStream: b.JS, HolderID: "me/1", WriteSubmissionFiles: tt.write,
				Mapper: mapMapper{"alice@x": "alice"}, Logger: testenv.Logger(t), ClaimStaleAfter: time.Minute}
			if tt.opts != nil {
				tt.opts(&o)
			}
			if tt.setup != nil {
				tt.setup(api)
			}
			h, err := NewHandler(o)
			if err != nil {
				t.Fatal(err)
			}
			dec := h.Handle(context.Background(), message(t, tt.sub, 1))
			if kind(dec) != tt.want {
				t.Fatalf("decision %s, want %s", dec, tt.want)
			}
			if got := sl.submitCount(); got != tt.submits {
				t.Errorf("sbatch ran %d times, want %d", got, tt.submits)
			}
			switch {
			case tt.rejected == "" && len(api.rejected) > 0:
				t.Errorf("unexpected rejection %q", api.rejected)
			case tt.rejected != "" && (len(api.rejected) != 1 || !strings.Contains(api.rejected[0], tt.rejected)):
				t.Errorf("rejections %q, want one containing %q", api.rejected, tt.rejected)
			}
			if tt.rejected != "" && len(sl.written) != 0 {
				t.Errorf("rejected, yet files were written: %v", sl.written)
			}
		})
	}
}

// TestHostileResolvedDirIsUsed: the files and sbatch get the resolved directory, never the one
// the submission named.
func TestHostileResolvedDirIsUsed(t *testing.T) {
	b, topo := newBroker(t, nil)
	api := &fakeAPI{files: map[string][]byte{"7/job.sh": []byte("#!/bin/sh\ntrue\n"), "7/in/data.txt": []byte("d")}}
	sl := &resolvingSlurm{fakeSlurm: newFakeSlurm()}
	h, err := NewHandler(Options{API: api, Slurm: sl, Claims: claimsBucket(t, b, topo), JetStream: b.JS, HolderID: "me/1",
		WriteSubmissionFiles: true, Mapper: mapMapper{"alice@x": "alice"}, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubmission("alice@x", strp("/home/alice/link"),
		jobbergate.JobScriptFile{ParentID: 7, Filename: "job.sh", FileType: jobbergate.FileTypeEntrypoint},
		jobbergate.JobScriptFile{ParentID: 7, Filename: "in/data.txt", FileType: jobbergate.FileTypeSupport})
	if dec := h.Handle(context.Background(), message(t, sub, 1)); !dec.IsAck() || len(api.submitted) != 1 {
		t.Fatalf("decision %s, reports %v, rejections %q", dec, api.submitted, api.rejected)
	}
	for _, p := range []string{"/real/home/alice/link/job.sh", "/real/home/alice/link/data.txt"} {
		if _, ok := sl.written[p]; !ok {
			t.Errorf("%s not written; written %v", p, sl.written)
		}
	}
	if len(sl.written) != 2 || sl.submits[0].Dir != "/real/home/alice/link" {
		t.Errorf("written %d files, sbatch in %q", len(sl.written), sl.submits[0].Dir)
	}
}
