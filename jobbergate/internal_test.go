package jobbergate

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeJWT builds an unsigned JWT with the given JSON payload.
func fakeJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("sig"))
}

func TestTokenExpiry(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  int64 // unix seconds; -1 = ErrInvalidToken
	}{
		{"int exp", fakeJWT(`{"exp": 1700000000, "azp": "c"}`), 1700000000},
		{"float exp", fakeJWT(`{"exp": 1700000000.9}`), 1700000000},
		{"padded payload", "e30." + base64.URLEncoding.EncodeToString([]byte(`{"exp": 5}`)) + ".c", 5},
		{"not a jwt", "not-a-jwt", -1},
		{"two parts", "a.b", -1},
		{"payload not base64", "a.!!!.c", -1},
		{"payload not json", fakeJWT(`nope`), -1},
		{"no exp", fakeJWT(`{"azp": "c"}`), -1},
		{"exp string", fakeJWT(`{"exp": "soon"}`), -1},
		{"exp negative", fakeJWT(`{"exp": -1}`), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tokenExpiry(tt.token)
			if tt.want < 0 {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("err = %v, want ErrInvalidToken", err)
				}
				if !strings.HasPrefix(err.Error(), "Unable to extract data from the token") {
					t.Fatalf("message %q", err)
				}
				if strings.Contains(err.Error(), tt.token) {
					t.Fatalf("error leaks the token: %q", err)
				}
				return
			}
			if err != nil || got.Unix() != tt.want {
				t.Fatalf("got %v, %v; want %d", got.Unix(), err, tt.want)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"short", []byte(`{"detail":"x"}`), `{"detail":"x"}`},
		{"exact", []byte(strings.Repeat("a", 512)), strings.Repeat("a", 512)},
		{"long ascii", []byte(strings.Repeat("a", 600)), strings.Repeat("a", 512)},
		{"cut rune", []byte("a" + long), "a" + strings.Repeat("é", 255)},
		{"invalid utf8", []byte{'a', 0xff, 'b'}, "a?b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := excerpt(tt.in)
			if got != tt.want {
				t.Fatalf("got %q (%d bytes)", got, len(got))
			}
			if len(got) > bodyExcerptLimit || !utf8.ValidString(got) {
				t.Fatalf("excerpt of %d bytes, valid %v", len(got), utf8.ValidString(got))
			}
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	p.setDefaults()
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 200 {
			if d := p.backoff(tt.attempt); d < tt.min || d > tt.max {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
	var d RetryPolicy
	if d.setDefaults(); d.MaxAttempts != 3 || d.InitialBackoff != 200*time.Millisecond || d.MaxBackoff != 5*time.Second {
		t.Fatalf("defaults %+v", d)
	}
}
