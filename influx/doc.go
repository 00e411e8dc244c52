// Package influx reads the per-job time series that Slurm's acct_gather_profile/influxdb plugin
// writes, aggregates them into the API's metric rows while they stream in, and uploads only what
// the Jobbergate API does not hold yet.
//
// Two backends implement Source: InfluxQL over the 1.x HTTP API (NewInfluxQL, built from the
// reference agent's INFLUX_DSN settings, works with InfluxDB 1.6+) and Flux (NewFlux, InfluxDB
// 1.8+ with flux-enabled and 2.x). A Syncer uses either to bring one job's metrics in the API up
// to date (Syncer.Sync).
//
// Data model (what the plugin writes): measurements named as jobbergate.Measurements, one float
// field "value", string tags host, job, step, task, second precision. Step tags are Slurm's
// signed step ids ("-5" batch, "-4" extern, "0", "1", ...); older writers' names are mapped
// (see ParseStep).
package influx
