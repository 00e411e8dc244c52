package jobbergate_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const (
	testClientID = "cluster-a"
	testSecret   = "s3cret-value-never-logged"
)

// clock is a settable clock shared by the server and the token source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects log output so tests can check that no secret is ever logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// assertNoSecrets fails when the log output contains the client secret or one of the tokens.
func (l *logBuffer) assertNoSecrets(t *testing.T, tokens ...string) {
	t.Helper()
	out := l.String()
	if strings.Contains(out, testSecret) {
		t.Errorf("logs contain the client secret:\n%s", out)
	}
	for _, tok := range tokens {
		if tok != "" && strings.Contains(out, tok) {
			t.Errorf("logs contain a token:\n%s", out)
		}
	}
}

// newAPI starts the development API with the agent's OIDC client registered.
func newAPI(t *testing.T, opts jobbergatetest.Options) *jobbergatetest.Server {
	t.Helper()
	s := jobbergatetest.NewTestServer(t, opts)
	s.AddClient(jobbergatetest.Client{ID: testClientID, Secret: testSecret, Permissions: jobbergatetest.AgentScopes})
	return s
}

// newTokens returns a token source for the API's token endpoint; mod may adjust the options.
func newTokens(t *testing.T, api *jobbergatetest.Server, mod func(*jobbergate.TokenSourceOptions)) *jobbergate.TokenSource {
	t.Helper()
	opts := jobbergate.TokenSourceOptions{
		TokenURL:     jobbergate.OIDCTokenURL(api.OIDCDomain(), false),
		ClientID:     testClientID,
		ClientSecret: testSecret,
		CacheDir:     t.TempDir(),
	}
	if mod != nil {
		mod(&opts)
	}
	ts, err := jobbergate.NewTokenSource(opts)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// unsignedJWT returns a JWT with the given payload that no server accepts.
func unsignedJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("x"))
}

func testenvEventually(t *testing.T, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, cond, "condition")
}
