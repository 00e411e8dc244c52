package jobbergate_test

import (
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

const (
	testClientID = "cluster-a"
	testSecret   = "s3cret-value-never-logged"
)

// logBuffer collects log output so tests can check that no secret is ever logged.
type logBuffer struct{ testenv.SyncBuffer }

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
