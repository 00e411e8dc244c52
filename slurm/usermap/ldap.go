package usermap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/logging"
)

// TLS modes of LDAPConfig.TLSMode.
const (
	// LDAPModeLDAPS is TLS from the first byte (ldaps://), the reference agent's only mode.
	LDAPModeLDAPS = "ldaps"
	// LDAPModeStartTLS is ldap:// upgraded with the StartTLS extended operation before the bind.
	LDAPModeStartTLS = "starttls"
	// LDAPModePlain is unencrypted ldap://: the bind password crosses the network in clear text.
	// Only for tests and loopback servers.
	LDAPModePlain = "plain"
)

// Defaults of LDAPConfig.
const (
	DefaultLDAPPort           = 636
	DefaultLDAPPlainPort      = 389
	DefaultLDAPUIDAttribute   = "uid"
	DefaultLDAPDialTimeout    = 10 * time.Second
	DefaultLDAPRequestTimeout = 15 * time.Second
)

// LDAPConfig configures ldap-cached-mapper. Its String, GoString and LogValue methods never show
// the password.
type LDAPConfig struct {
	Host         string // LDAP_DOMAIN: server host name or address (required)
	Port         int    // LDAP_PORT: 0 means 636 for ldaps, 389 otherwise
	BindDN       string // LDAP_BIND_DN (required)
	Password     string // LDAP_PASSWORD (required, secret)
	SearchBase   string // LDAP_SEARCH_BASE (required), used verbatim
	UIDAttribute string // LDAP_UID_ATTRIBUTE: attribute holding the user name; "" means uid

	// TLSMode is LDAPModeLDAPS (""), LDAPModeStartTLS or LDAPModePlain.
	TLSMode string
	// CAFile is a PEM bundle of the CAs that may sign the server certificate; "" means the
	// system roots. The certificate is always verified.
	CAFile string
	// ServerName is the name checked in the server certificate; "" means Host.
	ServerName string
	// DialTimeout bounds the TCP connection and TLS handshake (0: 10 s); RequestTimeout bounds
	// each LDAP operation (0: 15 s).
	DialTimeout    time.Duration
	RequestTimeout time.Duration

	// CacheDir holds the cache file user_mapper.json (required; the agent's CACHE_DIR). It must
	// be owned by the agent's user or root and not writable by its group or others, else the
	// cache file is not used (a warning; hits are cached in memory only). A cache file that is a
	// symbolic link, not owned by the agent's user, or writable by its group or others is
	// ignored (a warning) and replaced on the next hit.
	CacheDir string
	// CacheTTL is how long a cached hit is trusted; 0 means forever, like the reference agent.
	CacheTTL time.Duration
}

// String describes the configuration without the password.
func (c LDAPConfig) String() string {
	pw := "unset"
	if c.Password != "" {
		pw = "[REDACTED]"
	}
	return fmt.Sprintf("LDAPConfig{Host:%s Port:%d BindDN:%s Password:%s SearchBase:%s UIDAttribute:%s TLSMode:%s CAFile:%s CacheDir:%s}",
		c.Host, c.Port, c.BindDN, pw, c.SearchBase, c.UIDAttribute, c.TLSMode, c.CAFile, c.CacheDir)
}

// GoString is String, so that %#v does not print the password either.
func (c LDAPConfig) GoString() string { return c.String() }

// LogValue logs the configuration without the password.
func (c LDAPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host), slog.Int("port", c.Port), slog.String("bind_dn", c.BindDN),
		slog.String("search_base", c.SearchBase), slog.String("uid_attribute", c.UIDAttribute),
		slog.String("tls_mode", c.TLSMode), slog.String("ca_file", c.CAFile))
}

// withDefaults fills the zero fields and checks the rest; every problem is reported.
func (c LDAPConfig) withDefaults() (LDAPConfig, error) {
	var errs []error
	if c.TLSMode == "" {
		c.TLSMode = LDAPModeLDAPS
	}
	switch c.TLSMode {
	case LDAPModeLDAPS:
		if c.Port == 0 {
			c.Port = DefaultLDAPPort
		}
	case LDAPModeStartTLS, LDAPModePlain:
		if c.Port == 0 {
			c.Port = DefaultLDAPPlainPort
		}
	default:
		errs = append(errs, fmt.Errorf("LDAP TLS mode %q is not one of %s, %s, %s", c.TLSMode, LDAPModeLDAPS, LDAPModeStartTLS, LDAPModePlain))
	}
	if c.UIDAttribute == "" {
		c.UIDAttribute = DefaultLDAPUIDAttribute
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultLDAPDialTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultLDAPRequestTimeout
	}
	for _, req := range []struct{ name, val string }{
		{"LDAP_DOMAIN", c.Host}, {"LDAP_BIND_DN", c.BindDN}, {"LDAP_PASSWORD", c.Password},
		{"LDAP_SEARCH_BASE", c.SearchBase}, {"CACHE_DIR", c.CacheDir},
	} {
		if req.val == "" {
			errs = append(errs, fmt.Errorf("%s is required by the %s", req.name, LDAPMapperName))
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("LDAP_PORT %d is not in 1..65535", c.Port))
	}
	if strings.ContainsAny(c.UIDAttribute, "()*\\=, ") {
		errs = append(errs, fmt.Errorf("LDAP_UID_ATTRIBUTE %q is not an attribute name", c.UIDAttribute))
	}
	return c, errors.Join(errs...)
}

// LDAPMapper is ldap-cached-mapper: it looks the e-mail up in a file cache and, on a miss,
// searches the directory for (mail=<e-mail>) under the search base (subtree), binding with the
// configured DN on a connection opened for that lookup and closed after it.
//
// Answers: exactly one entry with one user-name value and a valid mail -> the lower-cased user
// name, stored in the cache under the requested e-mail. Zero or several entries, an entry
// without usable data, or an invalid user name -> a not-found error (reference texts "Did not
// find exactly one match for email=... Found N" and "Failed to extract data from LDAP entry:
// ..."); misses are not cached, so a user added to the directory is found on the next try.
// Connection, TLS, bind ("Couldn't bind to LDAP server: ...") and search failures are transient.
// The password never appears in errors or logs. Safe for concurrent use; Close is idempotent.
type LDAPMapper struct {
	cfg    LDAPConfig
	addr   string
	tls    *tls.Config
	logger *slog.Logger
	cache  *fileCache

	closed   atomic.Bool
	searches atomic.Int64
}

// NewLDAP checks cfg, reads the CA file and opens the cache (creating CacheDir with mode 0700).
// It does not contact the server. A nil logger discards logs.
func NewLDAP(cfg LDAPConfig, logger *slog.Logger) (*LDAPMapper, error) {
	if logger == nil {
		logger = logging.Discard()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = cfg.Host
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read LDAP CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("LDAP CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	cache, err := openFileCache(cfg.CacheDir, cfg.CacheTTL, logger)
	if err != nil {
		return nil, err
	}
	if cfg.TLSMode == LDAPModePlain {
		if ip := net.ParseIP(cfg.Host); cfg.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			logger.Warn("LDAP TLS mode is plain: the bind password crosses the network unencrypted", "host", cfg.Host)
		}
	}
	return &LDAPMapper{
		cfg:    cfg,
		addr:   net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		tls:    tlsConfig,
		logger: logger,
		cache:  cache,
	}, nil
}

// Searches returns how many directory searches the mapper has sent (cache misses that reached
// the server), for metrics and tests.
func (m *LDAPMapper) Searches() int64 { return m.searches.Load() }

// Close releases the mapper; later lookups fail with ErrClosed. It never fails and may be
// called more than once. Connections are per lookup, so nothing stays open in between.
func (m *LDAPMapper) Close() error {
	m.closed.Store(true)
	return nil
}

// Username maps email to a user name; see LDAPMapper for the answers.
func (m *LDAPMapper) Username(ctx context.Context, email string) (string, error) {
	if m.closed.Load() {
		return "", ErrClosed
	}
	if err := requireEmail(email); err != nil {
		return "", err
	}
	if u, ok := m.cache.get(email); ok {
		m.logger.DebugContext(ctx, "user mapper cache hit", "email", email, "username", u)
		return u, nil
	}
	u, err := m.lookup(ctx, email)
	if err != nil {
		return "", m.redact(err)
	}
	if err := m.cache.put(email, u); err != nil {
		m.logger.WarnContext(ctx, "could not store user mapping in the cache", "email", email, "err", m.redact(err))
	}
	m.logger.InfoContext(ctx, "user mapped through LDAP", "email", email, "username", u)
	return u, nil
}

// lookup does one connect, bind, search, close.
func (m *LDAPMapper) lookup(ctx context.Context, email string) (string, error) {
	conn, err := m.connect(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to LDAP server %s (%s): %w", m.addr, m.cfg.TLSMode, err)
	}
	// Unbind is the polite close; Close after it (or after a failed Unbind) is a no-op or the
	// real close. Closing on ctx cancellation makes a blocked request return.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		stop()
		_ = conn.Unbind()
		_ = conn.Close()
	}()

	if err := conn.Bind(m.cfg.BindDN, m.cfg.Password); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return "", fmt.Errorf("bind to LDAP server %s: %w", m.addr, cerr)
		}
		return "", fmt.Errorf("Couldn't bind to LDAP server: %w", err)
	}
	req := ldap.NewSearchRequest(m.cfg.SearchBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, int(m.cfg.RequestTimeout/time.Second), false,
		"(mail="+ldap.EscapeFilter(email)+")",
		[]string{m.cfg.UIDAttribute, "mail"}, nil)
	m.searches.Add(1)
	res, err := conn.Search(req)
	if err != nil {
		// A server-side size limit hit with several entries still means "not exactly one".
		if !(ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil && len(res.Entries) > 1) {
			if cerr := ctx.Err(); cerr != nil {
				return "", fmt.Errorf("LDAP search for email=%s: %w", email, cerr)
			}
			return "", fmt.Errorf("LDAP search for email=%s failed: %w", email, err)
		}
	}
	return m.extract(email, res.Entries)
}

// extract applies the reference's rules to the search result.
func (m *LDAPMapper) extract(email string, entries []*ldap.Entry) (string, error) {
	if len(entries) != 1 {
		return "", NotFoundf("Did not find exactly one match for email=%s. Found %d", email, len(entries))
	}
	e := entries[0]
	uids := e.GetEqualFoldAttributeValues(m.cfg.UIDAttribute)
	if len(uids) != 1 || uids[0] == "" {
		return "", NotFoundf("Failed to extract data from LDAP entry: %s: want exactly one %s value, got %d",
			e.DN, m.cfg.UIDAttribute, len(uids))
	}
	mails := e.GetEqualFoldAttributeValues("mail")
	if len(mails) == 0 {
		return "", NotFoundf("Failed to extract data from LDAP entry: %s: no mail value", e.DN)
	}
	found := mails[0]
	for _, v := range mails {
		if strings.EqualFold(v, email) {
			found = v
			break
		}
	}
	if !validEmail(found) {
		return "", NotFoundf("Failed to extract data from LDAP entry: %s: mail %q is not a valid e-mail address", e.DN, found)
	}
	return checkResult(email, strings.ToLower(uids[0]))
}

// connect dials the server in the configured TLS mode; the TLS certificate is always verified.
func (m *LDAPMapper) connect(ctx context.Context) (*ldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	dialer := &net.Dialer{Timeout: m.cfg.DialTimeout}
	if m.cfg.TLSMode == LDAPModeLDAPS {
		td := &tls.Dialer{NetDialer: dialer, Config: m.tls}
		c, err := td.DialContext(ctx, "tcp", m.addr)
		if err != nil {
			return nil, err
		}
		conn := ldap.NewConn(c, true)
		conn.Start()
		conn.SetTimeout(m.cfg.RequestTimeout)
		return conn, nil
	}
	c, err := dialer.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return nil, err
	}
	conn := ldap.NewConn(c, false)
	conn.Start()
	conn.SetTimeout(m.cfg.RequestTimeout)
	if m.cfg.TLSMode == LDAPModeStartTLS {
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		err := conn.StartTLS(m.tls)
		stop()
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return conn, nil
}

// redact replaces the password in err's text, should a server or library ever echo it.
func (m *LDAPMapper) redact(err error) error {
	if err == nil || m.cfg.Password == "" || !strings.Contains(err.Error(), m.cfg.Password) {
		return err
	}
	return &redactedError{err: err, msg: strings.ReplaceAll(err.Error(), m.cfg.Password, "[REDACTED]")}
}

// redactedError keeps err's identity for errors.Is/As but shows msg.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
