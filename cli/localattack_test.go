package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// The tests of this file perform attacks a login-node user can make on the root agent's
// commands, with real components: files owned by another user, a listener opened by another
// user's process, the commands run by Run as root. Each shows the attack fail.

const trapEnv = "JBG_TEST_TRAP_LISTEN"

// TestHelperTrapListener is not a test: run as another user by startTrap, it listens on
// $JBG_TEST_TRAP_LISTEN like a NATS server that wants a token, prints "listening ADDR", and for
// each connection "accepted" then "received %q" with what the client sent in its first second.
func TestHelperTrapListener(t *testing.T) {
	addr := os.Getenv(trapEnv)
	if addr == "" {
		t.Skip("helper process of startTrap")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		fmt.Println("accepted")
		fmt.Fprint(c, `INFO {"server_id":"trap","server_name":"trap","version":"2.10.0","proto":1,"max_payload":1048576,"auth_required":true}`+"\r\n")
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		b, _ := io.ReadAll(c)
		fmt.Printf("received %q\n", b)
		c.Close()
	}
}

// trap is a listener opened by another user's process.
type trap struct {
	addr string
	uid  int
	user string
	out  *testenv.SyncBuffer
}

// otherUser returns a user other than root: alice, else nobody.
func otherUser(t *testing.T) *user.User {
	t.Helper()
	testenv.Require(t, "root", testenv.IsRoot(), "the attacks need files and a process of another user: run the tests as root")
	for _, name := range []string{"alice", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u
		}
	}
	t.Skip("no user alice or nobody")
	return nil
}

// startTrap runs this test binary as u listening on addr ("127.0.0.1:0" for any port) until the
// test ends.
func startTrap(t *testing.T, u *user.User, addr string) *trap {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The test binary sits in a directory only root may enter: the user runs a copy.
	dir, err := os.MkdirTemp("", "jbg-trap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "trap")
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err == nil {
		_, err = io.Copy(dst, src)
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperTrapListener$")
	cmd.Dir = dir
	cmd.Env = []string{trapEnv + "=" + addr, "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	tr := &trap{uid: uid, user: u.Username, out: &testenv.SyncBuffer{}}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
			fmt.Fprintln(tr.out, sc.Text())
		}
		if first {
			close(lines)
		}
	}()
	select {
	case line := <-lines:
		a, ok := strings.CutPrefix(line, "listening ")
		if !ok {
			t.Fatalf("trap listener: %s", line)
		}
		tr.addr = a
	case <-time.After(30 * time.Second):
		t.Fatal("the trap listener did not start")
	}
	return tr
}

// assertUntouched fails the test when any connection reached the trap (it waits for a client's
// first second to be reported).
func (tr *trap) assertUntouched(t *testing.T, what string) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(tr.out.String(), "accepted") {
		testenv.Eventually(t, 3*time.Second, func() bool { return strings.Contains(tr.out.String(), "received") }, "")
		t.Errorf("%s: %s's listener %s got a connection:\n%s", what, tr.user, tr.addr, tr.out.String())
	}
}

// plantDotenv writes content as dir/.env owned by u, as the user would in her home directory.
func plantDotenv(t *testing.T, u *user.User, dir, content string) {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, path} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPlantedDotenvIsRefused: alice writes ~/.env pointing NATS_LISTEN at her own listener, with
// the real CACHE_DIR (where the embedded server's token is) and a command mapper of hers; root
// runs status, dead, config and run in her directory without --env-file. Each refuses her file
// with one line naming it, her listener gets no connection, her settings are not used, and run
// does not start.
func TestPlantedDotenvIsRefused(t *testing.T) {
	u := otherUser(t)
	if _, err := os.Lstat("/var/snap/jobbergate-agent/common/.env"); err == nil {
		t.Skip("the snap's .env exists: it is read instead of ./.env")
	}
	tr := startTrap(t, u, "127.0.0.1:0")

	// The agent's CACHE_DIR with its token, as the agent leaves it (CACHE_DIR is named in the
	// environment so that the refused file is not the only source of it).
	cache := t.TempDir()
	const token = "agent-token-must-stay-home-4c1d"
	if err := os.WriteFile(filepath.Join(cache, "nats.token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir()) // the default CACHE_DIR when her file is refused: empty

	plants := []struct{ name, content string }{
		// Her listener and the agent's CACHE_DIR: the token would go to her.
		{"token", strings.Join([]string{
			"JOBBERGATE_AGENT_NATS_LISTEN=" + tr.addr,
			"JOBBERGATE_AGENT_CACHE_DIR=" + cache,
			"JOBBERGATE_AGENT_SLURM_USER_MAPPER=command-mapper",
			"JOBBERGATE_AGENT_COMMAND_MAPPER_PATH=/home/" + tr.user + "/mapper",
			"JOBBERGATE_AGENT_SELF_UPDATE_COMMAND=/home/" + tr.user + "/update",
			"",
		}, "\n")},
		// Her listener alone: the commands would talk to her (no token to send), and show
		// what she answers.
		{"listener", "JOBBERGATE_AGENT_NATS_LISTEN=" + tr.addr + "\n"},
	}
	for _, plant := range plants {
		home := t.TempDir()
		plantDotenv(t, u, home, plant.content)
		t.Chdir(home)
		refusal := fmt.Sprintf("jobbergate-agent: refusing to read the settings file ./.env (%s): it is owned by uid %d (%s), neither root nor the caller",
			filepath.Join(home, ".env"), tr.uid, tr.user)
		for _, args := range [][]string{{"status", "--timeout", "2s"}, {"dead", "list", "--timeout", "2s"}, {"config"}, {"run"}} {
			t.Run(plant.name+"/"+args[0], func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var stdout, stderr testenv.SyncBuffer
				code := Run(ctx, args, nil, &stdout, &stderr)
				if n := strings.Count(stderr.String(), refusal); n != 1 {
					t.Errorf("stderr must say once that ./.env is refused (%q):\n%s", refusal, stderr.String())
				}
				for _, planted := range []string{tr.addr, cache, "/home/" + tr.user} {
					if strings.Contains(stdout.String(), planted) {
						t.Errorf("her setting %s was used:\n%s", planted, stdout.String())
					}
				}
				if args[0] == "config" && !strings.Contains(stdout.String(), "JOBBERGATE_AGENT_NATS_LISTEN=127.0.0.1:4222\n") {
					t.Errorf("config must show the settings without her file:\n%s", stdout.String())
				}
				if args[0] == "run" && (code != exitConfig || !strings.Contains(stderr.String(), "not starting the agent without the refused settings file")) {
					t.Errorf("run must not start without its settings file: exit %d\n%s", code, stderr.String())
				}
				tr.assertUntouched(t, strings.Join(args, " "))
			})
		}
	}
	if strings.Contains(tr.out.String(), token) {
		t.Errorf("the token reached her listener:\n%s", tr.out.String())
	}
}

// TestTokenGoesOnlyToTheRecordedAddress: the agent runs (embedded NATS, token in CACHE_DIR) and
// records its listener beside the token. status and dead whose settings name another NATS_LISTEN
// (alice's listener) refuse and send nothing; once the agent has stopped, its recorded address,
// even left behind by a crash and taken by alice's listener, gets no token either.
func TestTokenGoesOnlyToTheRecordedAddress(t *testing.T) {
	u := otherUser(t)
	tr := startTrap(t, u, "127.0.0.1:0")
	api := jobbergatetest.NewTestServer(t, jobbergatetest.Options{})
	env := append(agentEnv(t, api, "bridge"), "JOBBERGATE_AGENT_NATS_LISTEN="+freeAddr(t))
	var cache string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "JOBBERGATE_AGENT_CACHE_DIR="); ok {
			cache = v
		}
	}
	a := startAgent(t, env)
	recorded, err := os.ReadFile(filepath.Join(cache, "nats.addr"))
	if err != nil {
		t.Fatalf("the agent did not record its address beside the token: %v", err)
	}
	token, err := os.ReadFile(filepath.Join(cache, "nats.token"))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.logValue("embedded nats-server started", "listen"); got != "nats://"+strings.TrimSpace(string(recorded)) {
		t.Errorf("recorded %q, the server listens at %q", recorded, got)
	}
	if code, _, stderr := run(t, env, "status"); code != 0 {
		t.Fatalf("status of the running agent: exit %d\n%s", code, stderr)
	}

	attack := append(env[:len(env):len(env)], "JOBBERGATE_AGENT_NATS_LISTEN="+tr.addr)
	for _, args := range [][]string{{"status"}, {"dead", "list"}} {
		code, stdout, stderr := run(t, attack, args...)
		if code != exitConfig || stdout != "" ||
			!strings.Contains(stderr, "NATS_LISTEN "+tr.addr+" is not where the running agent's embedded NATS server listens ("+strings.TrimSpace(string(recorded))+", recorded in ") {
			t.Errorf("%s with NATS_LISTEN %s: exit %d\n%s%s", args[0], tr.addr, code, stdout, stderr)
		}
		tr.assertUntouched(t, args[0])
	}

	// A crashed agent leaves its address behind; alice listens there once it is free.
	if code := a.stop(); code != 0 {
		t.Fatalf("agent exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(cache, "nats.addr")); !os.IsNotExist(err) {
		t.Errorf("the address must be removed when the agent stops: %v", err)
	}
	stale := startTrap(t, u, strings.TrimSpace(string(recorded)))
	if err := os.WriteFile(filepath.Join(cache, "nats.addr"), recorded, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"dead", "list"}} {
		code, _, stderr := run(t, env, args...)
		want := fmt.Sprintf("the socket listening at %s was opened by uid %d (%s), neither root nor the caller", stale.addr, stale.uid, stale.user)
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("%s with alice on the stale address: exit %d, want %q in\n%s", args[0], code, want, stderr)
		}
		stale.assertUntouched(t, args[0]+" on the stale address")
	}
	for _, out := range []string{tr.out.String(), stale.out.String()} {
		if strings.Contains(out, strings.TrimSpace(string(token))) {
			t.Errorf("the token reached alice:\n%s", out)
		}
	}
}

// TestTokenNotSentForAUsersCacheDir: settings whose CACHE_DIR is alice's directory, holding a
// link to the agent's token and an address of her choice, send nothing: the recorded address
// counts only in a CACHE_DIR of root's (or the caller's) that nobody else may write.
func TestTokenNotSentForAUsersCacheDir(t *testing.T) {
	u := otherUser(t)
	tr := startTrap(t, u, "127.0.0.1:0")
	agentCache := t.TempDir()
	const token = "agent-token-4d2e"
	if err := os.WriteFile(filepath.Join(agentCache, "nats.token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hers := t.TempDir()
	if err := os.Symlink(filepath.Join(agentCache, "nats.token"), filepath.Join(hers, "nats.token")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hers, "nats.addr"), []byte(tr.addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	for _, p := range []string{hers, filepath.Join(hers, "nats.addr")} {
		if err := os.Lchown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"JOBBERGATE_AGENT_CACHE_DIR=" + hers, "JOBBERGATE_AGENT_NATS_LISTEN=" + tr.addr}
	code, _, stderr := run(t, env, "status")
	if code == 0 || !strings.Contains(stderr, "CACHE_DIR "+hers+" is not the agent's own: it is owned by uid "+u.Uid) {
		t.Errorf("status with her CACHE_DIR: exit %d\n%s", code, stderr)
	}
	tr.assertUntouched(t, "status")
}

func TestSameListen(t *testing.T) {
	tests := []struct {
		setting, recorded string
		want              bool
	}{
		{"127.0.0.1:4222", "127.0.0.1:4222", true},
		{":4222", "127.0.0.1:4222", true},        // the server's default host
		{"127.0.0.1:0", "127.0.0.1:39001", true}, // a random port
		{"localhost:4222", "127.0.0.1:4222", true},
		{"0.0.0.0:4222", "0.0.0.0:4222", true},
		{"127.0.0.1:4223", "127.0.0.1:4222", false},
		{"127.0.0.2:4222", "127.0.0.1:4222", false},
		{"0.0.0.0:4222", "127.0.0.1:4222", false},
		{"127.0.0.1:0", "127.0.0.2:39001", false},
	}
	for _, tc := range tests {
		if got := sameListen(tc.setting, tc.recorded); got != tc.want {
			t.Errorf("sameListen(%q, %q) = %v", tc.setting, tc.recorded, got)
		}
	}
	if dialAddr("0.0.0.0:4222") != "127.0.0.1:4222" || dialAddr("[::]:4222") != "[::1]:4222" || dialAddr("10.0.0.1:4222") != "10.0.0.1:4222" {
		t.Error("dialAddr")
	}
}
