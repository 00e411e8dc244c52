package influx

// Measurements are the names of the InfluxDB measurements written by Slurm's profile plugin that
// the agent reads, in ASCII order: Point.Measurement indexes it and Row.Values follows it. It is
// also the column order of the Jobbergate API's metric rows.
var Measurements = [10]string{
	"CPUFrequency", "CPUTime", "CPUUtilization", "GPUMemMB", "GPUUtilization",
	"Pages", "RSS", "ReadMB", "VMSize", "WriteMB",
}

// MeasurementIndex returns the position of a measurement name in Measurements.
func MeasurementIndex(name string) (int, bool) {
	for i, m := range Measurements {
		if m == name {
			return i, true
		}
	}
	return 0, false
}

// Row is one aggregated sample of a job step's task on a host at a time (epoch seconds): the
// sum of each measurement's values, in the order of Measurements (0 when missing). Its fields
// are those of the API's metric row, so a Row converts to one.
type Row struct {
	Time   int64
	Host   string
	Step   int
	Task   int
	Values [len(Measurements)]float64
}
