package metrics

import (
	"github.com/omnivector-solutions/jobbergate-agent-go/influx"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
)

// chunker gathers aggregated rows into API rows and hands them to upload in chunks of size
// rows, in the order they came. It is not safe for concurrent use.
type chunker struct {
	size   int
	upload func([]jobbergate.MetricRow) error
	rows   []jobbergate.MetricRow
	// err is the first upload error; nothing is uploaded after it.
	err error
}

// add takes rows (an influx.Merge emit function) and uploads every chunk that fills.
func (c *chunker) add(rows []influx.Row) error {
	for _, r := range rows {
		c.rows = append(c.rows, jobbergate.MetricRow(r))
		if len(c.rows) == c.size {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush uploads the rows gathered so far, if any.
func (c *chunker) flush() error {
	if c.err != nil {
		return c.err
	}
	if len(c.rows) == 0 {
		return nil
	}
	if err := c.upload(c.rows); err != nil {
		c.err = err
		return err
	}
	c.rows = c.rows[:0]
	return nil
}
