package jobbergatetest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// These helpers mimic Python's int(), float() and str() on values decoded from msgpack, which
// is how the API casts metric columns.

var errCast = errors.New("cannot cast")

// pyInt is Python's int(v): integers as they are, bools as 0/1, floats truncated toward zero
// (NaN and infinities fail), str/bytes parsed as base-10 integer literals with surrounding
// whitespace and single underscores between digits allowed. Anything else fails.
func pyInt(v any) (int64, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%w: %d out of range", errCast, x)
		}
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float32:
		return floatToInt(float64(x))
	case float64:
		return floatToInt(x)
	case string:
		return parsePyIntLiteral(x)
	case []byte:
		return parsePyIntLiteral(string(x))
	default:
		return 0, fmt.Errorf("%w: int() of %T", errCast, v)
	}
}

func floatToInt(f float64) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= 1<<63 {
		return 0, fmt.Errorf("%w: int() of %v", errCast, f)
	}
	return int64(math.Trunc(f)), nil
}

// stripPyDigits removes Python's digit-group underscores, refusing misplaced ones.
func stripPyDigits(s string) (string, bool) {
	if !strings.Contains(s, "_") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '_' {
			if i == 0 || i == len(s)-1 || !isDigit(s[i-1]) || !isDigit(s[i+1]) {
				return "", false
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func parsePyIntLiteral(s string) (int64, error) {
	t := strings.TrimFunc(s, unicode.IsSpace)
	body := strings.TrimLeft(t, "+-")
	if len(t)-len(body) > 1 || body == "" {
		return 0, fmt.Errorf("%w: int() of %q", errCast, s)
	}
	for _, c := range []byte(body) {
		if !isDigit(c) && c != '_' {
			return 0, fmt.Errorf("%w: int() of %q", errCast, s)
		}
	}
	clean, ok := stripPyDigits(t)
	if !ok {
		return 0, fmt.Errorf("%w: int() of %q", errCast, s)
	}
	n, err := strconv.ParseInt(clean, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: int() of %q: %v", errCast, s, err)
	}
	return n, nil
}

// pyFloat is Python's float(v): numbers and bools convert, str/bytes parse as decimal float
// literals (also "nan", "inf", "infinity", any case, signed), anything else fails.
func pyFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case string:
		return parsePyFloatLiteral(x)
	case []byte:
		return parsePyFloatLiteral(string(x))
	default:
		n, err := pyInt(v)
		if err != nil {
			return 0, fmt.Errorf("%w: float() of %T", errCast, v)
		}
		return float64(n), nil
	}
}

func parsePyFloatLiteral(s string) (float64, error) {
	t := strings.TrimFunc(s, unicode.IsSpace)
	for _, c := range []byte(t) {
		// Python accepts no hexadecimal floats; Go would.
		if c == 'x' || c == 'X' || c == 'p' || c == 'P' {
			return 0, fmt.Errorf("%w: float() of %q", errCast, s)
		}
	}
	clean, ok := stripPyDigits(t)
	if !ok {
		return 0, fmt.Errorf("%w: float() of %q", errCast, s)
	}
	f, err := strconv.ParseFloat(clean, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%w: float() of %q", errCast, s)
	}
	return f, nil
}

// pyStr is Python's str(v) for the msgpack value types.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float32:
		return pyFloatRepr(float64(x))
	case float64:
		return pyFloatRepr(x)
	case []byte:
		return "b" + strconv.QuoteToASCII(string(x)) // close to Python's bytes repr
	default:
		return fmt.Sprint(x)
	}
}

// pyFloatRepr formats f like Python's repr(float).
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
