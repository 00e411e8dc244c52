package jobbergate

import (
	"net/http"
)

// DefaultMaxIdleConnsPerHost is how many idle connections to the API a transport from
// NewTransport keeps when asked for fewer. Go's default (2) is far below the agent's
// concurrency: every request beyond two would close its connection afterwards and the next one
// would open a new one, a TCP and TLS handshake each, at the API's round trip.
const DefaultMaxIdleConnsPerHost = 64

// NewTransport returns http.DefaultTransport's settings (proxy from the environment, dial and
// TLS handshake timeouts, HTTP/2) keeping up to maxIdlePerHost idle connections per host, at
// least DefaultMaxIdleConnsPerHost. Size it to the requests the caller runs at once.
func NewTransport(maxIdlePerHost int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(maxIdlePerHost, DefaultMaxIdleConnsPerHost)
	t.MaxIdleConns = max(t.MaxIdleConns, 2*t.MaxIdleConnsPerHost)
	return t
}
