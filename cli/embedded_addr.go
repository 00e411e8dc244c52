package cli

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/fx"

	"github.com/omnivector-solutions/jobbergate-agent-go/broker"
	"github.com/omnivector-solutions/jobbergate-agent-go/config"
)

// The agent records where its embedded NATS server listens in CACHE_DIR/nats.addr, beside the
// token (broker.EmbeddedTokenFile), while it runs. `status` and `dead` send the token only
// there: never to an address that only the settings name, which whoever wrote the settings
// chose.

// embeddedAddrFile is the file holding the embedded server's listen address ("host:port\n").
func embeddedAddrFile(s *config.Settings) string { return filepath.Join(s.CacheDir, "nats.addr") }

// recordEmbeddedAddr writes the embedded server's listen address to embeddedAddrFile (0600,
// replaced atomically) and removes it when the agent stops. In client mode it does nothing; with
// no listener it removes a file left by an earlier run.
func recordEmbeddedAddr(lc fx.Lifecycle, s *config.Settings, b *broker.Broker) error {
	ns := b.Server()
	if ns == nil {
		return nil
	}
	path := embeddedAddrFile(s)
	addr := ns.Addr()
	if addr == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("embedded NATS address file: %w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(s.CacheDir, ".nats.addr-*")
	if err != nil {
		return fmt.Errorf("embedded NATS address file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(addr.String() + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("embedded NATS address file: %w", err)
	}
	lc.Append(fx.StopHook(func(context.Context) {
		// Gone with the listener: a stale address is one anybody may listen on later.
		_ = os.Remove(path)
	}))
	return nil
}

// readRecordedAddr returns the address the running agent recorded, refusing a file it cannot
// trust to come from the agent: in a CACHE_DIR or a file that a user other than root or the caller
// owns or may write, or a symbolic link.
func readRecordedAddr(s *config.Settings) (string, error) {
	b, _, err := config.ReadCacheFile(s.CacheDir, filepath.Base(embeddedAddrFile(s)), 512)
	if err != nil {
		return "", err
	}
	addr := strings.TrimSpace(string(b))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("%s: %q is not host:port", embeddedAddrFile(s), addr)
	}
	return addr, nil
}

// sameListen reports whether the NATS_LISTEN setting names the listener that was recorded:
// the same port (or port 0: a random one) and the same address, a host name matching when it
// resolves to the recorded address (the server's default host is 127.0.0.1).
func sameListen(setting, recorded string) bool {
	sh, sp, err := net.SplitHostPort(setting)
	if err != nil {
		return false
	}
	rh, rp, err := net.SplitHostPort(recorded)
	if err != nil {
		return false
	}
	if sp != "0" && sp != rp {
		return false
	}
	if sh == "" {
		sh = "127.0.0.1"
	}
	if sh == rh {
		return true
	}
	rip := net.ParseIP(rh)
	if rip == nil {
		return false
	}
	ips := []net.IP{net.ParseIP(sh)}
	if ips[0] == nil {
		ips, _ = net.LookupIP(sh)
	}
	for _, ip := range ips {
		if ip.Equal(rip) {
			return true
		}
	}
	return false
}

// dialAddr is where a client reaches a listener at addr: a wildcard host becomes loopback.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

// errNoListener says that nothing listens at the address.
var errNoListener = errors.New("nothing listens there")

// checkListenerOwner makes sure that whatever accepts a TCP connection to addr (an IP and a port)
// is a socket of root or of the caller: a recorded address outlives a crashed agent, and any user
// may listen on a free unprivileged port. It reads the kernel's socket tables (/proc/net/tcp and
// tcp6), which name the uid that opened each listening socket.
func checkListenerOwner(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	p, err := strconv.ParseUint(port, 10, 16)
	if ip == nil || err != nil {
		return fmt.Errorf("%q is not an IP address and port", addr)
	}
	euid := uint64(os.Geteuid())
	found := false
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		owners, err := listeners(table, ip, uint16(p))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && table == "/proc/net/tcp6" {
				continue // no IPv6
			}
			return fmt.Errorf("cannot tell who listens at %s: %w", addr, err)
		}
		for _, uid := range owners {
			found = true
			if uid != 0 && uid != euid {
				name := "uid " + strconv.FormatUint(uid, 10)
				if u, err := user.LookupId(strconv.FormatUint(uid, 10)); err == nil {
					name += " (" + u.Username + ")"
				}
				return fmt.Errorf("the socket listening at %s was opened by %s, neither root nor the caller", addr, name)
			}
		}
	}
	if !found {
		return errNoListener
	}
	return nil
}

// listeners returns the uids owning the listening sockets of table that accept connections to
// ip:port (bound to ip itself, or to a wildcard address of its family or of IPv6).
func listeners(table string, ip net.IP, port uint16) ([]uint64, error) {
	f, err := os.Open(table)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []uint64
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[3] != "0A" { // TCP_LISTEN
			continue
		}
		lip, lport, ok := parseProcAddr(fields[1])
		if !ok || lport != port {
			continue
		}
		if !lip.Equal(ip) && !lip.IsUnspecified() {
			continue
		}
		if lip.IsUnspecified() && lip.To4() != nil && ip.To4() == nil {
			continue // 0.0.0.0 does not accept IPv6 connections
		}
		uid, err := strconv.ParseUint(fields[7], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: uid %q", table, fields[7])
		}
		out = append(out, uid)
	}
	return out, sc.Err()
}

// parseProcAddr decodes a /proc/net/tcp address: the IP as 32-bit words in the host's byte
// order, in hex, then ":" and the port in hex.
func parseProcAddr(s string) (net.IP, uint16, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || (len(h) != 8 && len(h) != 32) {
		return nil, 0, false
	}
	raw, err := hex.DecodeString(h)
	port, perr := strconv.ParseUint(p, 16, 16)
	if err != nil || perr != nil {
		return nil, 0, false
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	return ip, uint16(port), true
}
