package jsonscan

import (
	"errors"
	"fmt"
)

// ErrSyntax is wrapped by every error of this package.
var ErrSyntax = errors.New("jsonscan: invalid JSON")

func syntaxErr(b []byte, i int, what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, what, i)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, syntaxErr(b, i, "unterminated string")
}

// SkipValue returns the index just past the value that starts at b[i] (after spaces).
func SkipValue(b []byte, i int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return 0, syntaxErr(b, i, "missing value")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					if (b[i] == '{') != (b[j] == '}') {
						return 0, syntaxErr(b, j, "mismatched bracket")
					}
					return j + 1, nil
				}
			}
		}
		return 0, syntaxErr(b, i, "unterminated "+string(b[i]))
	case ',', ':', '}', ']':
		return 0, syntaxErr(b, i, "missing value")
	default: // number or literal: up to the next delimiter
		j := i
		for j < len(b) && !isSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ':' {
			j++
		}
		return j, nil
	}
}

// ObjectMembers calls fn with each member of the object b holds (spaces around it allowed), in
// order: key is the member name as written, without its quotes (escapes are not decoded), value
// the value's text. fn returning false stops the walk without error.
func ObjectMembers(b []byte, fn func(key, value []byte) bool) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return syntaxErr(b, i, "not an object")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return syntaxErr(b, i, "expected a member name")
		}
		end, err := skipString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return syntaxErr(b, i, "expected ':'")
		}
		vs := skipSpace(b, i+1)
		ve, err := SkipValue(b, vs)
		if err != nil {
			return err
		}
		if !fn(key, b[vs:ve]) {
			return nil
		}
		i = skipSpace(b, ve)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return trailing(b, i+1)
		}
		return syntaxErr(b, i, "expected ',' or '}'")
	}
}

// ArrayElements calls fn with the text of each element of the array b holds (spaces around it
// allowed), in order. fn returning false stops the walk without error.
func ArrayElements(b []byte, fn func(elem []byte) bool) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return syntaxErr(b, i, "not an array")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return trailing(b, i+1)
	}
	for {
		es := i
		ee, err := SkipValue(b, es)
		if err != nil {
			return err
		}
		if !fn(b[es:ee]) {
			return nil
		}
		i = skipSpace(b, ee)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return trailing(b, i+1)
		}
		return syntaxErr(b, i, "expected ',' or ']'")
	}
}

func trailing(b []byte, i int) error {
	if i = skipSpace(b, i); i != len(b) {
		return syntaxErr(b, i, "text after the value")
	}
	return nil
}
