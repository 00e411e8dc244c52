package jobbergate

import (
	"net/http"
)

// maxIdleConnsPerHost is how many idle connections to the API a Client keeps. Go's default
// (2) is far below the agent's concurrency (the submit consumer alone has 32 deliveries in
// flight by default): every request beyond two would close its connection afterwards and the
// next one would open a new one, a TCP and TLS handshake each, at the API's round trip.
const maxIdleConnsPerHost = 64

// newTransport returns http.DefaultTransport's settings (proxy from the environment, dial and
// TLS handshake timeouts, HTTP/2) with maxIdleConnsPerHost idle connections kept.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	t.MaxIdleConns = max(t.MaxIdleConns, 2*maxIdleConnsPerHost)
	return t
}
