// Package jobidentity keeps the identity of every Slurm job the agent submitted, in a KV bucket
// (broker.Topology.JobsBucket).
//
// # Design
//
// For a submission id, a record holds the job id the submit path recorded, the mapped owner and
// the claim's marker. The submit path writes a record when it records a job id; the update path
// reads it before it reports a job's data or cancels it, so that a job id the API sends is acted
// on only when it is the submission's own job.
package jobidentity
