package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

func TestRunServesSeedAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testenv.SyncBuffer
	srvCh := make(chan *jobbergatetest.Server, 1)
	errCh := make(chan error, 1)
	go func() {
		errCh <- run(ctx, []string{"-listen", "127.0.0.1:0", "-seed", "../../jobbergate/jobbergatetest/testdata/seed.json", "-version", "1.2.3"},
			&stdout, &stderr, func(s *jobbergatetest.Server) { srvCh <- s })
	}()
	var s *jobbergatetest.Server
	select {
	case s = <-srvCh:
	case err := <-errCh:
		t.Fatalf("run ended early: %v (%s)", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	out := stdout.String()
	if !strings.Contains(out, "BASE_API_URL="+s.URL()+"\n") || !strings.Contains(out, "OIDC_DOMAIN="+s.OIDCDomain()+"\n") {
		t.Fatalf("printed settings: %q", out)
	}
	resp, err := http.Get(s.URL() + "/jobbergate/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"version":"1.2.3"`) {
		t.Fatalf("openapi.json: %s", body)
	}
	resp, err = http.Get(s.URL() + "/dev/submissions/3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("seeded submission 3: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-errCh:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
	if _, err := http.Get(s.URL() + "/jobbergate/health"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("logs: %s", stderr.String())
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing seed", []string{"-listen", "127.0.0.1:0", "-seed", "/nonexistent/seed.json"}, "open seed"},
		{"bad flag", []string{"-nope"}, "flag provided but not defined"},
		{"extra args", []string{"serve"}, "unexpected arguments"},
	}
	for _, tc := range cases {
		err := run(context.Background(), tc.args, io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := run(context.Background(), []string{"-h"}, io.Discard, io.Discard, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
