package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm"
	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// API is the part of the Jobbergate API the handler uses; *jobbergate.Client implements it.
type API interface {
	// DownloadFile returns a file's content, failing with jobbergate.ErrFileTooLarge (in an
	// *APIError) beyond maxBytes without reading the rest.
	DownloadFile(ctx context.Context, parentID int, filename string, maxBytes int64) ([]byte, error)
	MarkSubmitted(ctx context.Context, id int, data jobbergate.SlurmJobData) error
	MarkRejected(ctx context.Context, id int, reportMessage string) error
}

// Slurm is the part of the Slurm client the handler uses; *slurm.Client implements it.
type Slurm interface {
	LookupUser(name string) (slurm.User, error)
	// ResolveExecutionDir checks, as the user (uid and groups), that dir is a directory the
	// user can write, whoever owns it, and returns it with symbolic links resolved.
	ResolveExecutionDir(ctx context.Context, u slurm.User, dir string) (string, error)
	WriteFile(ctx context.Context, u slurm.User, dir, name string, content []byte) (string, error)
	Submit(ctx context.Context, req slurm.SubmitRequest) (slurm.SubmitResult, error)
	// FindMarkedJobs looks for the job of a claim: a job of the claim's owner carrying its
	// marker, finished or not (an error wrapping slurm.ErrNotSure when it cannot tell).
	FindMarkedJobs(ctx context.Context, submissionID int64, id slurm.Identity) (slurm.MarkedJobs, error)
	// JobState reads one job (scontrol show job <id>: its cost does not grow with the queue,
	// unlike squeue --json, which on Slurm 22.05 returns every job slurmctld holds).
	JobState(ctx context.Context, id int64) (slurm.JobData, error)
}

// Defaults of Options.
const (
	// DefaultWorkDir is DEFAULT_SLURM_WORK_DIR's default.
	DefaultWorkDir = "/home/{username}"
	// DefaultClaimStaleAfter is twice the default consumer AckWait (broker.DefaultLimits).
	DefaultClaimStaleAfter = 2 * time.Minute
	// DefaultDoneTTL is how long a record outlives the report that took the submission out of
	// CREATED.
	DefaultDoneTTL = 24 * time.Hour
	// DefaultDownloadConcurrency bounds the concurrent file downloads of one submission.
	DefaultDownloadConcurrency = 4
	// DefaultMaxFileBytes is MAX_FILE_BYTES's default: 16 MiB per job-script file.
	DefaultMaxFileBytes = 16 << 20
	// DefaultDownloadBudget is DownloadBudget's default: 8 files of the default MaxFileBytes.
	DefaultDownloadBudget = 8 * DefaultMaxFileBytes
	// DefaultMinSubmitUID is MIN_SUBMIT_UID's default: uids below it are system accounts.
	DefaultMinSubmitUID = 1000
)

// Options configure a Handler. API, Slurm, Mapper, Claims and HolderID are required.
type Options struct {
	API    API
	Slurm  Slurm
	Mapper usermap.Mapper
	// Claims is the submissions KV bucket (broker.Topology.SubmissionsBucket).
	Claims jetstream.KeyValue
	// Jobs, when set, is the job identity bucket (broker.Topology.JobsBucket): each recorded job
	// id is written there with its owner and marker (jobidentity.Record), for the update path.
	Jobs jetstream.KeyValue
	// JetStream, when set, is used to give finished records their per-key TTL (DoneTTL) with a
	// compare-and-set publish; kv.Update cannot set a TTL. Without it finished records keep the
	// bucket's TTL.
	JetStream jetstream.JetStream
	// DefaultWorkDir is used when a submission has no execution_directory; "{username}" is
	// replaced by the mapped user name. Default DefaultWorkDir.
	DefaultWorkDir string
	// WriteSubmissionFiles writes the job script files into the execution directory as the user
	// and hands the written entrypoint to sbatch. When false the entrypoint goes to sbatch on
	// stdin and submissions with supporting files are rejected (the reference's rule).
	WriteSubmissionFiles bool
	// HolderID identifies this process in claims (NewHolderID). It must differ between
	// processes sharing the bucket.
	HolderID string
	// HolderGone, when set, is asked about a claim without job id held by another process that
	// is not stale yet: true means that holder can no longer create the job (LocalHolderGone),
	// so the claim is reconciled at once instead of after ClaimStaleAfter.
	// It is given the claim's holder and marker.
	HolderGone func(holder, marker string) bool
	// ClaimStaleAfter is how old a claim without job id must be before another process
	// reconciles it against Slurm. Set it to twice the SUBMIT consumer's AckWait. Default
	// DefaultClaimStaleAfter.
	ClaimStaleAfter time.Duration
	// SubmitTimeout bounds one sbatch call; it must be shorter than ClaimStaleAfter so that a
	// stale claim's holder is no longer inside sbatch. Default ClaimStaleAfter/2.
	SubmitTimeout time.Duration
	// DoneTTL is the lifetime of a record after its submission left CREATED. Default
	// DefaultDoneTTL. The server raises a TTL below the bucket's LimitMarkerTTL to it.
	DoneTTL time.Duration
	// DownloadConcurrency bounds the concurrent downloads of one submission's files. Default
	// DefaultDownloadConcurrency.
	DownloadConcurrency int
	// MaxFileBytes bounds each job-script file: a larger one rejects the submission, and its
	// download stops at the limit. Default DefaultMaxFileBytes.
	MaxFileBytes int64
	// DownloadBudget bounds the bytes of job-script files all deliveries hold in memory at once:
	// each download reserves MaxFileBytes (or the whole budget, if smaller) before it starts and
	// keeps the file's size until the file is written (the entrypoint: until sbatch has read
	// it). Default DefaultDownloadBudget.
	DownloadBudget int64
	// MinSubmitUID rejects owners mapped to a uid from 1 to MinSubmitUID-1 (system accounts;
	// uid 0 is governed by the Slurm client's AllowRoot). 0 means DefaultMinSubmitUID; a
	// negative value disables the check.
	MinSubmitUID int
	// LegacyMarkerDir, when set, is where the Python agent kept its idempotency markers
	// (its CACHE_DIR): a submission without a record whose <id>.slurm_job_id file names a job of
	// its owner is reported with that job instead of being submitted again.
	LegacyMarkerDir string
	// AllowHiddenFiles accepts job-script file names with an element that begins with a dot
	// (ALLOW_HIDDEN_FILES). Off by default: such a file (.bashrc) would replace the submitter's
	// own, and template authors, not submitters, choose file names.
	AllowHiddenFiles bool
	// SlurmConcurrency bounds the submissions in their Slurm stage at once, across every
	// delivery this Handler handles (SUBMIT_CONCURRENCY): the claim and sbatch hold a slot,
	// as do the state read of a re-report and the queue read of a reconciliation. The rest
	// (mapping the user, downloading and writing the files, recording the job id, reading the
	// new job's state, reporting to the API) runs outside the slots, so that with more
	// deliveries in flight than slots that work overlaps with sbatch instead of leaving Slurm
	// idle; the new jobs' state reads are bounded by SlurmConcurrency of their own. 0 means no
	// bound besides the runner's concurrency.
	SlurmConcurrency int
	// OwnerSlurmConcurrency bounds the Slurm slots one owner holds at once, so that an owner
	// who stops or slows their own sbatch (it runs as them) cannot hold every slot. 0 means half
	// of SlurmConcurrency, rounded up; negative, no bound. Without SlurmConcurrency, or when it
	// is not below SlurmConcurrency, it is unused. With it, one owner's deliveries also hold at
	// most half of the runner's InFlight(SlurmConcurrency) (twice SlurmConcurrency admitted,
	// OwnerWaiting more waiting without a runner slot) and half of DownloadBudget; the owner's
	// further deliveries are deferred (consumers.Defer) until their turn, never dead-lettered
	// for it.
	OwnerSlurmConcurrency int
	// OwnerWaiting bounds the deliveries of one owner that wait for admission without a runner
	// slot when the owner's share is in use (see OwnerSlurmConcurrency); further ones are
	// deferred. Default InFlight(SlurmConcurrency): waiting deliveries are held by this process,
	// so a crash leaves them to the consumer's AckWait and another process cannot take them
	// meanwhile; the default keeps that to as many as the runner's own slots.
	OwnerWaiting int
	// RecordAttempts and RecordBackoff bound the retries of the KV write that records a job id
	// right after sbatch (defaults 5 and 200 ms, doubling).
	RecordAttempts int
	RecordBackoff  time.Duration
	// SlotWait, when set, is told how long each wait for a Slurm slot took (successful waits
	// only): long waits mean SlurmConcurrency, not the rest of the path, limits throughput.
	// Called from the handling goroutines, concurrently.
	SlotWait func(time.Duration)
	// Logger receives one record per outcome; nil discards.
	Logger *slog.Logger
	// Now is the clock (claim ages); nil means time.Now.
	Now func() time.Time
}

// ErrMissingOption is returned by NewHandler when a required option is missing.
var ErrMissingOption = errors.New("submit: missing required option")

// setDefaults fills the options left at their zero value.
func (o *Options) setDefaults() {
	if o.DefaultWorkDir == "" {
		o.DefaultWorkDir = DefaultWorkDir
	}
	if o.ClaimStaleAfter <= 0 {
		o.ClaimStaleAfter = DefaultClaimStaleAfter
	}
	if o.SubmitTimeout <= 0 || o.SubmitTimeout >= o.ClaimStaleAfter {
		o.SubmitTimeout = o.ClaimStaleAfter / 2
	}
	if o.DoneTTL <= 0 {
		o.DoneTTL = DefaultDoneTTL
	}
	if o.DownloadConcurrency <= 0 {
		o.DownloadConcurrency = DefaultDownloadConcurrency
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.OwnerWaiting <= 0 {
		o.OwnerWaiting = InFlight(o.SlurmConcurrency)
	}
	if o.DownloadBudget <= 0 {
		o.DownloadBudget = max(DefaultDownloadBudget, o.MaxFileBytes)
	}
	if o.MinSubmitUID == 0 {
		o.MinSubmitUID = DefaultMinSubmitUID
	}
	if o.RecordAttempts <= 0 {
		o.RecordAttempts = 5
	}
	if o.RecordBackoff <= 0 {
		o.RecordBackoff = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = logging.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports the required options that are missing, in one error wrapping
// ErrMissingOption.
func (o Options) Validate() error {
	var missing []string
	if o.API == nil {
		missing = append(missing, "API")
	}
	if o.Slurm == nil {
		missing = append(missing, "Slurm")
	}
	if o.Mapper == nil {
		missing = append(missing, "Mapper")
	}
	if o.Claims == nil {
		missing = append(missing, "Claims")
	}
	if o.HolderID == "" {
		missing = append(missing, "HolderID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingOption, strings.Join(missing, ", "))
	}
	return nil
}

// MinSubmitUIDFor maps the MIN_SUBMIT_UID setting, where 0 disables the check, to
// Options.MinSubmitUID, where 0 means DefaultMinSubmitUID and a negative value disables it.
func MinSubmitUIDFor(setting int) int {
	if setting == 0 {
		return -1
	}
	return setting
}

// prefetch is how many submissions per Slurm slot a process handles at once: while
// SUBMIT_CONCURRENCY of them are in sbatch, the others are mapped, downloaded, written or
// reported, so the API's round trips do not leave the slots idle.
const prefetch = 4

// InFlight returns how many SUBMIT messages a process handles at once (the concurrency
// of its consumers.Runner) for SUBMIT_CONCURRENCY n, n of them in their Slurm stage at
// most: prefetch times n, at most n+256.
func InFlight(n int) int { return min(prefetch*n, n+256) }
