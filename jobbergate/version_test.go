package jobbergate

import (
	"errors"
	"testing"
)

func TestNeedUpdate(t *testing.T) {
	tests := []struct {
		current, upstream string
		want              bool
	}{
		{"1.0.0", "1.0.0", false},
		{"1.0.0", "2.0.0", false}, // other major, up
		{"2.0.0", "1.0.0", false}, // other major, down
		{"1.0.0", "1.1.0", true},  // minor up
		{"1.1.0", "1.0.0", false}, // minor down: never a downgrade
		{"1.0.0", "1.0.1", true},  // patch up
		{"1.0.1", "1.0.0", false}, // patch down: never a downgrade
		{"5.11.0", "5.11.0", false},
		{"5.10.12", "5.11.0", true},
		{"5.11.0", "5.10.12", false},
		{"5.9.0", "5.10.0", true}, // numeric, not lexical, order
		{"5.10.0", "5.9.0", false},
		{"5.11.10", "5.11.9", false},
		{"5.11.09", "5.11.9", false}, // leading zero: the same number
	}
	for _, tt := range tests {
		t.Run(tt.current+"->"+tt.upstream, func(t *testing.T) {
			got, err := NeedUpdate(tt.current, tt.upstream)
			if err != nil || got != tt.want {
				t.Fatalf("NeedUpdate = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestNeedUpdateRejectsImproperVersions(t *testing.T) {
	bad := []string{"1.0", "1", "1.0.1a", "1.0.10b", "1.0.9a1", "", "1..0", "v1.0.0", "1.0.0.0", "1.-1.0", " 1.0.0"}
	for _, v := range bad {
		t.Run(v, func(t *testing.T) {
			if _, err := NeedUpdate(v, "1.0.0"); !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("NeedUpdate(%q, 1.0.0) err = %v", v, err)
			}
			if _, err := NeedUpdate("1.0.0", v); !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("NeedUpdate(1.0.0, %q) err = %v", v, err)
			}
		})
	}
}
