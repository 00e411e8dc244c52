// Package influx is the InfluxDB adapter of the metrics path: it reads the per-job time series
// that Slurm's acct_gather_profile/influxdb plugin writes and aggregates them, while they stream
// in, into metric rows (Merge, Aggregator). What to read and where the rows go is decided by its
// caller (package consumers/metrics).
//
// Two backends implement Source: InfluxQL over the 1.x HTTP API (NewInfluxQL, built from the
// reference agent's INFLUX_DSN settings, works with InfluxDB 1.6+) and Flux (NewFlux, InfluxDB
// 1.8+ with flux-enabled and 2.x). Both keep a pool of connections between queries.
//
// Data model (what the plugin writes): the measurements named in Measurements, one float
// field "value", string tags host, job, step, task, second precision. Step tags are Slurm's
// signed step ids ("-5" batch, "-4" extern, "0", "1", ...); older writers' names are mapped
// (see ParseStep).
package influx
