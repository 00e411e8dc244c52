package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
)

// The example public keys in deploy/nats; the tests replace them with keys they generate.
const (
	exampleC1Agent = "UBVCJBC4JPFVQBQXPMTMKJFSZT23MCW2JF4NTVHUW6MSM2GXFDPJBBDP"
	exampleC1Leaf  = "UAZVQ45R6ZOXYC5VDAXN6YZTTRQYLZ53Y72GSMDT2ZK2XST7METHHNDD"
	exampleC2Agent = "UAZH5SYUOUBFA6AKWB3NFSWIKCHME5EN2NEUAYXDU7W7PBEXKSIIN6E3"
	exampleC2Leaf  = "UANICARFJYZED7LSMFFI2QZNRSXH3W6ZZK5NK4ISMSLIN6FBP5XA2TBM"
)

var exampleFiles = []string{"cluster-node.conf", "accounts.conf", "perms-JBG_C1.conf", "perms-JBG_C2.conf", "leaf.conf"}

// nkeyUser is a generated nkey user: its public key and a seed file readable by the owner only.
type nkeyUser struct {
	Public, Seed, SeedFile string
}

func newNKeyUser(t *testing.T, dir, name string) nkeyUser {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".nk")
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return nkeyUser{Public: pub, Seed: string(seed), SeedFile: file}
}

// writeTestPKI writes ca.pem, server.pem and server-key.pem (valid for 127.0.0.1 and localhost,
// for server and client auth, so the routes' mutual TLS works) into dir.
func writeTestPKI(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jobbergate test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem":         {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem":     {Type: "CERTIFICATE", Bytes: der},
		"server-key.pem": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// installExample copies the deploy/nats example files into dir, changing only what is
// site-specific: the example public keys (to generated ones) and the TLS directory. It fails if
// one of them is missing, so the test follows the example.
func installExample(t *testing.T, dir, tlsDir string, keys map[string]string) {
	t.Helper()
	for _, name := range exampleFiles {
		data, err := os.ReadFile(filepath.Join("..", "deploy", "nats", name))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "/etc/nats/tls/", tlsDir+"/")
		for example, generated := range keys {
			text = strings.ReplaceAll(text, example, generated)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// freePorts returns n distinct free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// serverFromConfig loads file with server.ProcessConfigFile, lets adjust move it onto loopback
// ports and a temporary store, and starts it with its log in logger. It does not wait for
// readiness (a clustered JetStream server is ready only with a quorum).
func serverFromConfig(t *testing.T, file string, logger *slog.Logger, adjust func(*server.Options)) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("load %s: %v", filepath.Base(file), err)
	}
	opts.NoSigs = true
	opts.Host = "127.0.0.1"
	opts.Port = -1
	adjust(opts)
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("server from %s: %v", filepath.Base(file), err)
	}
	ns.SetLoggerV2(slogServerLogger{logger.With("server", opts.ServerName)}, false, false, false)
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func clientURL(ns *server.Server, scheme string) string {
	return scheme + "://127.0.0.1:" + strconv.Itoa(ns.Addr().(*net.TCPAddr).Port)
}

// exampleCluster is the 3-node cluster of cluster-node.conf plus the leaf of leaf.conf, running
// on loopback with generated keys and certificates.
type exampleCluster struct {
	nodes     []*server.Server
	leaf      *server.Server
	tlsDir    string
	c1, c2    nkeyUser // agents of JBG_C1 and JBG_C2
	c1Leaf    nkeyUser
	urls      []string // tls:// client URLs of the three nodes
	leafURL   string   // nats:// loopback URL of the leaf
	log       *testenv.SyncBuffer
	logger    *slog.Logger
	leafPorts []int
}

func startExampleCluster(t *testing.T) *exampleCluster {
	t.Helper()
	dir := t.TempDir()
	c := &exampleCluster{tlsDir: filepath.Join(dir, "tls"), log: &testenv.SyncBuffer{}}
	c.logger = slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := os.Mkdir(c.tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeTestPKI(t, c.tlsDir)
	c.c1, c.c2 = newNKeyUser(t, dir, "c1-agent"), newNKeyUser(t, dir, "c2-agent")
	c.c1Leaf = newNKeyUser(t, dir, "c1-leaf")
	c2Leaf := newNKeyUser(t, dir, "c2-leaf")
	confDir := filepath.Join(dir, "etc")
	if err := os.Mkdir(confDir, 0o700); err != nil {
		t.Fatal(err)
	}
	installExample(t, confDir, c.tlsDir, map[string]string{
		exampleC1Agent: c.c1.Public, exampleC1Leaf: c.c1Leaf.Public,
		exampleC2Agent: c.c2.Public, exampleC2Leaf: c2Leaf.Public,
	})

	ports := freePorts(t, 6)
	routePorts, leafPorts := ports[:3], ports[3:]
	c.leafPorts = leafPorts
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(p)})
	}
	for i := range 3 {
		c.nodes = append(c.nodes, serverFromConfig(t, filepath.Join(confDir, "cluster-node.conf"), c.logger, func(o *server.Options) {
			o.ServerName = "n" + strconv.Itoa(i+1)
			o.StoreDir = filepath.Join(dir, o.ServerName)
			o.Cluster.Host, o.Cluster.Port = "127.0.0.1", routePorts[i]
			o.Routes = routes
			o.LeafNode.Host, o.LeafNode.Port = "127.0.0.1", leafPorts[i]
		}))
	}
	for _, ns := range c.nodes {
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatalf("server %s not ready", ns.Name())
		}
		c.urls = append(c.urls, clientURL(ns, "tls"))
	}
	return c
}

// startLeaf runs leaf.conf with its remotes pointed at the cluster's leaf-node ports; the leaf
// seed comes from the environment, as in production.
func (c *exampleCluster) startLeaf(t *testing.T) {
	t.Helper()
	t.Setenv("JBG_LEAF_SEED", c.c1Leaf.Seed)
	confDir := filepath.Join(filepath.Dir(c.tlsDir), "etc")
	c.leaf = serverFromConfig(t, filepath.Join(confDir, "leaf.conf"), c.logger, func(o *server.Options) {
		if len(o.LeafNode.Remotes) != 1 {
			t.Fatalf("leaf.conf has %d remotes, want 1", len(o.LeafNode.Remotes))
		}
		var urls []*url.URL
		for _, p := range c.leafPorts {
			urls = append(urls, &url.URL{Scheme: "tls", Host: "127.0.0.1:" + strconv.Itoa(p)})
		}
		o.LeafNode.Remotes[0].URLs = urls
	})
	if !c.leaf.ReadyForConnections(10 * time.Second) {
		t.Fatal("leaf not ready")
	}
	c.leafURL = clientURL(c.leaf, "nats")
}

// slogServerLogger sends nats-server's log to slog (like the broker's own adapter).
type slogServerLogger struct{ l *slog.Logger }

func (s slogServerLogger) Noticef(f string, v ...any) { s.l.Info(sprintf(f, v...)) }
func (s slogServerLogger) Warnf(f string, v ...any)   { s.l.Warn(sprintf(f, v...)) }
func (s slogServerLogger) Fatalf(f string, v ...any)  { s.l.Error(sprintf(f, v...)) }
func (s slogServerLogger) Errorf(f string, v ...any)  { s.l.Error(sprintf(f, v...)) }
func (s slogServerLogger) Debugf(f string, v ...any)  { s.l.Debug(sprintf(f, v...)) }
func (s slogServerLogger) Tracef(f string, v ...any)  { s.l.Debug(sprintf(f, v...)) }

func sprintf(f string, v ...any) string { return fmt.Sprintf(f, v...) }
