package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestObjectMembers(t *testing.T) {
	in := []byte(` { "a" : 1, "b\"c": {"x": [1, "]}"]}, "d":"e\\", "f": [ ], "g": null } `)
	var keys, values []string
	if err := ObjectMembers(in, func(k, v []byte) bool {
		keys, values = append(keys, string(k)), append(values, string(v))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	wantK := []string{"a", `b\"c`, "d", "f", "g"}
	wantV := []string{"1", `{"x": [1, "]}"]}`, `"e\\"`, "[ ]", "null"}
	if len(keys) != len(wantK) {
		t.Fatalf("keys %q, want %q", keys, wantK)
	}
	for i := range wantK {
		if keys[i] != wantK[i] || values[i] != wantV[i] {
			t.Errorf("member %d = %q: %q, want %q: %q", i, keys[i], values[i], wantK[i], wantV[i])
		}
	}
}

func TestArrayElements(t *testing.T) {
	var got []string
	if err := ArrayElements([]byte(`[{"a":[1,2]}, "x,y" ,3,[]]`), func(e []byte) bool {
		got = append(got, string(e))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":[1,2]}`, `"x,y"`, "3", "[]"}
	if len(got) != len(want) {
		t.Fatalf("elements %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("element %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestStructureErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":"x}`, `{"a":[1}`, `{"a":{]}`, `{} x`, `{"a":1}}`} {
		err := ObjectMembers([]byte(in), func(k, v []byte) bool { return true })
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("ObjectMembers(%q) = %v, want ErrSyntax", in, err)
		}
	}
	for _, in := range []string{`{}`, `[`, `[1,]`, `[1 2]`, `[,]`} {
		err := ArrayElements([]byte(in), func(e []byte) bool { return true })
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("ArrayElements(%q) = %v, want ErrSyntax", in, err)
		}
	}
}

// On valid JSON objects the walk agrees with encoding/json: same members, same values.
func FuzzObjectMembersAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,"}"]},"c":"\"\\"}`, `{}`, ` { "x" : [ ] } `, `{"a":1}x`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var want map[string]json.RawMessage
		valid := json.Valid(in) && json.Unmarshal(in, &want) == nil && want != nil
		got := map[string][]byte{}
		n := 0
		err := ObjectMembers(in, func(k, v []byte) bool {
			n++
			got[string(k)] = v
			return true
		})
		if !valid {
			return // the walk may accept text encoding/json refuses (it does not check literals)
		}
		if err != nil {
			t.Fatalf("valid object %q refused: %v", in, err)
		}
		for k, v := range want {
			raw, ok := got[k]
			if !ok {
				continue // keys with escapes are reported as written
			}
			var a, b bytes.Buffer
			if json.Compact(&a, raw) != nil || json.Compact(&b, v) != nil || a.String() != b.String() {
				t.Fatalf("member %q = %q, encoding/json says %q", k, raw, v)
			}
		}
	})
}
