package fxmodules

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"net/http/httptest"

	"github.com/omnivector-solutions/jobbergate-agent-go/config"
	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
	"github.com/omnivector-solutions/jobbergate-agent-go/telemetry"
)

// TestAPIOverTLSWithSiteCA: the development API served over TLS with a certificate from a CA
// the system does not know is reachable once API_CA_FILE names that CA, and refused without it.
func TestAPIOverTLSWithSiteCA(t *testing.T) {
	api := jobbergatetest.New(jobbergatetest.Options{Version: "5.11.0"})
	srv := httptest.NewTLSServer(api.Handler())
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "site-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	version := func(s *config.Settings) (string, error) {
		hc, err := APIHTTPClient(s, telemetry.New())
		if err != nil {
			return "", err
		}
		c, err := jobbergate.New(jobbergate.Options{BaseURL: srv.URL, HTTPClient: hc})
		if err != nil {
			return "", err
		}
		return c.APIVersion(context.Background())
	}
	timeout := 5
	if v, err := version(&config.Settings{APICAFile: caFile, RequestsTimeout: &timeout}); err != nil || v != "5.11.0" {
		t.Fatalf("with API_CA_FILE: %q, %v", v, err)
	}
	if _, err := version(&config.Settings{RequestsTimeout: &timeout}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the site CA the API must be refused with a certificate error, got %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o644)
	if _, err := APIHTTPClient(&config.Settings{APICAFile: notPEM}, nil); err == nil || !strings.Contains(err.Error(), "API_CA_FILE") {
		t.Errorf("a CA file without certificates must be an error naming API_CA_FILE, got %v", err)
	}
}

// The agent's API client keeps the connections of concurrent requests between bursts (Go's
// default transport keeps two per host and reconnects, with a TLS handshake, for the rest).
func TestAPIHTTPClientReusesConnections(t *testing.T) {
	hc, err := APIHTTPClient(&config.Settings{SubmitConc: 8}, telemetry.New())
	if err != nil {
		t.Fatal(err)
	}
	const rounds, n = 3, 40
	if got := testenv.ConnectionsOpened(t, hc, rounds, n); got != n {
		t.Errorf("%d connections opened for %d rounds of %d concurrent requests, want %d", got, rounds, n, n)
	}
}
