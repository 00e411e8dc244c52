package jobbergatetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// queryInt reads an optional integer query parameter bounded by [lo, hi] (hi < lo means no upper
// bound), returning def when absent. Errors are pydantic-shaped.
func queryInt(r *http.Request, name string, def, lo, hi int, required bool) (int, *fieldError) {
	raw, ok := r.URL.Query()[name]
	if !ok || len(raw) == 0 {
		if required {
			return 0, &fieldError{Type: "missing", Loc: []any{"query", name}, Msg: "Field required", Input: nil}
		}
		return def, nil
	}
	v := raw[len(raw)-1]
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, &fieldError{Type: "int_parsing", Loc: []any{"query", name},
			Msg: "Input should be a valid integer, unable to parse string as an integer", Input: v}
	}
	if n < lo {
		return 0, &fieldError{Type: "greater_than_equal", Loc: []any{"query", name},
			Msg: fmt.Sprintf("Input should be greater than or equal to %d", lo), Input: v, Ctx: map[string]any{"ge": lo}}
	}
	if hi >= lo && n > hi {
		return 0, &fieldError{Type: "less_than_equal", Loc: []any{"query", name},
			Msg: fmt.Sprintf("Input should be less than or equal to %d", hi), Input: v, Ctx: map[string]any{"le": hi}}
	}
	return n, nil
}

// pathID parses an integer path parameter.
func pathID(r *http.Request, name string) (int, *fieldError) {
	v := r.PathValue(name)
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &fieldError{Type: "int_parsing", Loc: []any{"path", name},
			Msg: "Input should be a valid integer, unable to parse string as an integer", Input: v}
	}
	return n, nil
}

// jsonBody is a decoded JSON object body with per-field validators that collect pydantic-style
// errors instead of stopping at the first one.
type jsonBody struct {
	fields map[string]json.RawMessage
	errs   []fieldError
}

// readJSONBody decodes the request body as a JSON object. A non-object or invalid body yields
// one error.
func readJSONBody(r *http.Request) *jsonBody {
	b := &jsonBody{}
	data, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		b.errs = append(b.errs, fieldError{Type: "json_invalid", Loc: []any{"body"}, Msg: "JSON decode error", Input: nil})
		return b
	}
	if len(bytes.TrimSpace(data)) == 0 {
		b.errs = append(b.errs, fieldError{Type: "missing", Loc: []any{"body"}, Msg: "Field required", Input: nil})
		return b
	}
	var anyv any
	if err := json.Unmarshal(data, &anyv); err != nil {
		b.errs = append(b.errs, fieldError{Type: "json_invalid", Loc: []any{"body", 0}, Msg: "JSON decode error",
			Input: map[string]any{}, Ctx: map[string]any{"error": err.Error()}})
		return b
	}
	if err := json.Unmarshal(data, &b.fields); err != nil {
		b.errs = append(b.errs, fieldError{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: anyv})
	}
	return b
}

func (b *jsonBody) ok() bool { return len(b.errs) == 0 }

func (b *jsonBody) fail(typ, name, msg string, input any, ctx map[string]any) {
	b.errs = append(b.errs, fieldError{Type: typ, Loc: []any{"body", name}, Msg: msg, Input: input, Ctx: ctx})
}

// raw returns the field's value decoded generically, whether it was present, and whether it was null.
func (b *jsonBody) raw(name string, required bool) (v any, present bool) {
	if b.fields == nil {
		return nil, false
	}
	rm, ok := b.fields[name]
	if !ok {
		if required {
			b.fail("missing", name, "Field required", nil, nil)
		}
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(rm))
	dec.UseNumber()
	_ = dec.Decode(&v) // rm is valid JSON: it came out of a successful Unmarshal
	return v, true
}

// int validates an integer field (>= ge); nullable fields accept null (returned as nil).
func (b *jsonBody) int(name string, required, nullable bool, ge int) *int {
	v, present := b.raw(name, required)
	if !present {
		return nil
	}
	if v == nil {
		if !nullable {
			b.fail("int_type", name, "Input should be a valid integer", nil, nil)
		}
		return nil
	}
	var n int
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			n = int(i)
		} else if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			n = int(f)
		} else {
			b.fail("int_from_float", name, "Input should be a valid integer, got a number with a fractional part", x, nil)
			return nil
		}
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			b.fail("int_parsing", name, "Input should be a valid integer, unable to parse string as an integer", x, nil)
			return nil
		}
		n = i
	default:
		b.fail("int_type", name, "Input should be a valid integer", x, nil)
		return nil
	}
	if n < ge {
		b.fail("greater_than_equal", name, fmt.Sprintf("Input should be greater than or equal to %d", ge), v, map[string]any{"ge": ge})
		return nil
	}
	return &n
}

// str validates a string field; nullable fields accept null (returned as nil).
func (b *jsonBody) str(name string, required, nullable bool) *string {
	v, present := b.raw(name, required)
	if !present {
		return nil
	}
	if v == nil {
		if !nullable {
			b.fail("string_type", name, "Input should be a valid string", nil, nil)
		}
		return nil
	}
	s, ok := v.(string)
	if !ok {
		b.fail("string_type", name, "Input should be a valid string", v, nil)
		return nil
	}
	return &s
}

// slurmState validates a required Slurm job state against the API's enum.
func (b *jsonBody) slurmState(name string) *string {
	v, present := b.raw(name, true)
	if !present {
		return nil
	}
	s, ok := v.(string)
	if !ok || !slurmStates[s] {
		b.fail("enum", name, "Input should be a valid Slurm job state", v, nil)
		return nil
	}
	return &s
}
