// Package jsonscan walks the top level of JSON text without decoding it: the members of an
// object and the elements of an array, as slices of the input.
//
// It checks the structure it walks (brackets, strings, separators) but not the contents of
// numbers and literals; callers that need valid JSON validate the pieces they keep
// (json.Compact does).
//
// # Design
//
// It exists because Slurm prints tens of megabytes of job objects of which the agent needs a few
// fields, and encoding/json's scanner reads such documents several times slower.
package jsonscan
