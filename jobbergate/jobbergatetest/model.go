package jobbergatetest

import "time"

// Scopes (permissions) the agent-facing routes check. A token carries them in its top-level
// "permissions" claim.
const (
	ScopeAdmin             = "jobbergate:admin"
	ScopeClustersUpdate    = "jobbergate:clusters:update"
	ScopeClustersRead      = "jobbergate:clusters:read"
	ScopeSubmissionsRead   = "jobbergate:job-submissions:read"
	ScopeSubmissionsUpdate = "jobbergate:job-submissions:update"
	ScopeScriptsRead       = "jobbergate:job-scripts:read"
)

// AgentScopes is the set of permissions an agent service account has.
var AgentScopes = []string{ScopeSubmissionsRead, ScopeSubmissionsUpdate, ScopeScriptsRead, ScopeClustersUpdate}

// Job submission statuses (the API enum).
const (
	StatusCreated   = "CREATED"
	StatusSubmitted = "SUBMITTED"
	StatusRejected  = "REJECTED"
	StatusDone      = "DONE"
	StatusAborted   = "ABORTED"
	StatusCancelled = "CANCELLED"
)

// Job script file types.
const (
	FileTypeEntrypoint = "ENTRYPOINT"
	FileTypeSupport    = "SUPPORT"
)

// Client is an OIDC client registered with the token endpoint; in Jobbergate a client is a
// cluster. Tokens issued to it carry azp=ID and the given permissions.
type Client struct {
	ID          string   `json:"id"`
	Secret      string   `json:"secret"`
	Permissions []string `json:"permissions"`
}

// TokenClaims describes a token minted directly by MintToken.
type TokenClaims struct {
	// ClientID goes into the azp claim; "" means the token has neither azp nor client_id.
	ClientID string
	// UseClientIDClaim puts ClientID in a "client_id" claim instead of "azp".
	UseClientIDClaim bool
	Permissions      []string
	// ExpiresAt is the exp claim; zero means now + Options.TokenTTL. A past time mints an
	// expired token.
	ExpiresAt time.Time
}

// File is one file of a job script.
type File struct {
	Filename string `json:"filename"`
	FileType string `json:"file_type"` // "ENTRYPOINT" | "SUPPORT"
	Content  []byte `json:"-"`
}

// JobScript is a job script with its files.
type JobScript struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	OwnerEmail string `json:"owner_email"`
	Files      []File `json:"files"`
}

// Submission is a job submission as stored by the server.
type Submission struct {
	ID                  int        `json:"id"`
	Name                string     `json:"name"`
	OwnerEmail          string     `json:"owner_email"`
	ClientID            string     `json:"client_id"`
	JobScriptID         int        `json:"job_script_id"`
	Status              string     `json:"status"` // CREATED (default), SUBMITTED, REJECTED, DONE, ABORTED, CANCELLED
	ExecutionDirectory  *string    `json:"execution_directory"`
	SbatchArguments     []string   `json:"sbatch_arguments"`
	SlurmJobID          *int       `json:"slurm_job_id"`
	SlurmJobState       *string    `json:"slurm_job_state"`
	SlurmJobInfo        *string    `json:"slurm_job_info"`
	SlurmJobStateReason *string    `json:"slurm_job_state_reason"`
	ReportMessage       *string    `json:"report_message"`
	Progress            []Progress `json:"progress"` // read side only: ignored by AddSubmission
}

// Progress is one entry of a submission's progress history, added by the agent endpoints.
type Progress struct {
	Time          time.Time `json:"time"`
	Status        string    `json:"status"`
	SlurmJobState *string   `json:"slurm_job_state"`
	Message       *string   `json:"message"`
}

// MetricRow is one stored metric row. Values are in the wire order CPUFrequency, CPUTime,
// CPUUtilization, GPUMemMB, GPUUtilization, Pages, RSS, ReadMB, VMSize, WriteMB, after the
// server's casts (the integer columns hold whole numbers).
type MetricRow struct {
	Time     int64       `json:"time"`
	NodeHost string      `json:"node_host"`
	Step     int         `json:"step"`
	Task     int         `json:"task"`
	Values   [10]float64 `json:"values"`
}

// ClusterStatus is the last health report of a cluster (client).
type ClusterStatus struct {
	ClientID     string    `json:"client_id"`
	Interval     int       `json:"interval"`
	LastReported time.Time `json:"last_reported"`
	IsHealthy    bool      `json:"is_healthy"`
}

// slurmStates is the Slurm job state enum the API accepts (section 7 of the spec).
var slurmStates = map[string]bool{
	"BOOT_FAIL": true, "CANCELLED": true, "COMPLETED": true, "CONFIGURING": true, "COMPLETING": true,
	"DEADLINE": true, "FAILED": true, "NODE_FAIL": true, "OUT_OF_MEMORY": true, "PENDING": true,
	"PREEMPTED": true, "RUNNING": true, "RESV_DEL_HOLD": true, "REQUEUE_FED": true, "REQUEUE_HOLD": true,
	"REQUEUED": true, "RESIZING": true, "REVOKED": true, "SIGNALING": true, "SPECIAL_EXIT": true,
	"STAGE_OUT": true, "STOPPED": true, "SUSPENDED": true, "TIMEOUT": true, "UNKNOWN": true,
}

// abortStates are the Slurm states that turn a submission ABORTED on agent update.
var abortStates = map[string]bool{
	"BOOT_FAIL": true, "CANCELLED": true, "DEADLINE": true, "FAILED": true, "NODE_FAIL": true,
	"PREEMPTED": true, "SPECIAL_EXIT": true, "TIMEOUT": true, "UNKNOWN": true,
}

var validStatuses = map[string]bool{
	StatusCreated: true, StatusSubmitted: true, StatusRejected: true,
	StatusDone: true, StatusAborted: true, StatusCancelled: true,
}
