package usermap_test

import (
	"context"
	"testing"

	"github.com/omnivector-solutions/jobbergate-agent-go/slurm/usermap"
)

// BenchmarkLDAPMapper measures a lookup that reaches slapd (connect, TLS, bind, search, unbind;
// a miss, which is never cached) and one answered by the cache.
func BenchmarkLDAPMapper(b *testing.B) {
	for _, mode := range []string{usermap.LDAPModeLDAPS, usermap.LDAPModeStartTLS, usermap.LDAPModePlain} {
		b.Run("search-"+mode, func(b *testing.B) {
			l := requireLDAP(b)
			cfg := l.config(b)
			cfg.TLSMode = mode
			if mode != usermap.LDAPModeLDAPS {
				cfg.Port = l.ldapPort
			}
			m, err := usermap.NewLDAP(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			for b.Loop() {
				if _, err := m.Username(ctx, "nobody@example.org"); !usermap.IsNotFound(err) {
					b.Fatalf("lookup: %v", err)
				}
			}
		})
	}
	b.Run("cached", func(b *testing.B) {
		l := requireLDAP(b)
		m, err := usermap.NewLDAP(l.config(b), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		ctx := context.Background()
		if _, err := m.Username(ctx, "alice@example.org"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if u, err := m.Username(ctx, "alice@example.org"); err != nil || u != "alice" {
				b.Fatalf("lookup: %q, %v", u, err)
			}
		}
		if m.Searches() != 1 {
			b.Fatalf("cached lookups searched %d times", m.Searches())
		}
	})
}
