package influx_test

import ()
