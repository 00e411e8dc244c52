package influx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// InfluxQLOptions are the reference agent's settings for InfluxDB (JOBBERGATE_AGENT_INFLUX_*).
type InfluxQLOptions struct {
	// DSN is INFLUX_DSN: influxdb://[user:pass@]host[:port]/database, https+influxdb://...
	// (TLS) or udp+influxdb://... (the reference's UDP mode only changes writes; reads use
	// HTTP). The port defaults to 8086, the host to localhost.
	DSN string
	// SSL is INFLUX_SSL. Unlike the reference (quirk 6), an https+influxdb DSN uses TLS even
	// when SSL is false.
	SSL bool
	// VerifySSL is INFLUX_VERIFY_SSL and CertPath INFLUX_CERT_PATH, with the reference's rule:
	// with VerifySSL the server certificate is checked against the CA bundle at CertPath, or
	// the system roots when CertPath is empty; without VerifySSL it is not checked (a warning
	// is logged).
	VerifySSL bool
	CertPath  string
	// Timeout is INFLUX_TIMEOUT: the bound of each query, answer included (0: none).
	Timeout time.Duration
	// ChunkSize is the number of points per chunk of a streamed answer (0: 10,000).
	ChunkSize int
	// PoolSize is INFLUX_POOL_SIZE: how many connections to the server are kept open for
	// reuse between queries (the reference's connection pool size); 0: 10.
	PoolSize int
}

// influxQLConfig is what the DSN and options resolve to.
type influxQLConfig struct {
	addr       string
	username   string
	password   string
	database   string
	tls        *tls.Config // nil: plain HTTP
	insecure   bool
	timeout    time.Duration
	chunkSize  int
	poolSize   int
	schemeName string
}

// resolve validates the options. Its errors never contain the DSN's password.
func (o InfluxQLOptions) resolve() (influxQLConfig, error) {
	var cfg influxQLConfig
	u, err := url.Parse(o.DSN)
	if err != nil {
		// url.Error repeats the whole DSN, password included: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return cfg, fmt.Errorf("%w: %v", ErrInvalidDSN, err)
	}
	useTLS := o.SSL
	switch u.Scheme {
	case "influxdb", "udp+influxdb":
	case "https+influxdb":
		useTLS = true
	default:
		return cfg, fmt.Errorf("%w: scheme %q is not influxdb, https+influxdb or udp+influxdb", ErrInvalidDSN, u.Scheme)
	}
	cfg.schemeName = u.Scheme
	host := u.Hostname()
	if host == "" {
		host = "localhost"
	}
	port := u.Port()
	if port == "" {
		port = "8086"
	}
	cfg.database = strings.Trim(u.Path, "/")
	if cfg.database == "" {
		return cfg, fmt.Errorf("%w: no database in the DSN path", ErrInvalidDSN)
	}
	if u.User != nil {
		cfg.username = u.User.Username()
		cfg.password, _ = u.User.Password()
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		switch {
		case o.VerifySSL && o.CertPath != "":
			pem, err := os.ReadFile(o.CertPath)
			if err != nil {
				return cfg, fmt.Errorf("%w: read INFLUX_CERT_PATH: %w", ErrInvalidOptions, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return cfg, fmt.Errorf("%w: INFLUX_CERT_PATH %s holds no PEM certificate", ErrInvalidOptions, o.CertPath)
			}
			tc.RootCAs = pool
		case o.VerifySSL:
		default:
			tc.InsecureSkipVerify = true
			cfg.insecure = true
		}
		cfg.tls = tc
	}
	cfg.addr = scheme + "://" + net.JoinHostPort(host, port)
	if o.Timeout < 0 {
		return cfg, fmt.Errorf("%w: negative timeout", ErrInvalidOptions)
	}
	cfg.timeout = o.Timeout
	cfg.chunkSize = o.ChunkSize
	if cfg.chunkSize <= 0 {
		cfg.chunkSize = 10000
	}
	cfg.poolSize = o.PoolSize
	if cfg.poolSize <= 0 {
		cfg.poolSize = 10
	}
	return cfg, nil
}
