package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SnapDotenv is the .env file the reference agent's snap reads; it is used when it exists and no
// other file is named.
const SnapDotenv = "/var/snap/jobbergate-agent/common/.env"

// Source says where settings come from.
type Source struct {
	// Environ is the process environment as "KEY=VALUE" strings (os.Environ()).
	Environ []string
	// Dotenv is the .env file to read. Empty means the reference's choice: SnapDotenv if it
	// exists, else ./.env if it exists. "none" reads no file. A named file that does not exist
	// is a problem; the default ones are optional, and are read only when they are regular files
	// (not symbolic links) owned by root or the caller that neither group nor others may write
	// (else refused with a Notice, and Load goes on without them).
	Dotenv string
	// Home replaces $HOME in the CACHE_DIR default; empty means os.UserHomeDir().
	Home string
	// Notify receives each Notice about the .env file: a default file refused because someone
	// other than root or the caller may have written it, or a named file read despite that. Nil
	// prints them to os.Stderr, one line each: they are never dropped.
	Notify func(Notice)
	// Warn receives, once per variable and in name order, each JOBBERGATE_AGENT_* variable
	// that names no setting (see Warning): Load ignores them, as the reference does. Nil prints
	// them to os.Stderr, one line each.
	Warn func(Warning)
}

// Problems is the error Load returns when settings are invalid: one line per problem, each naming
// the variable.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// extraKeys are additional known variable names (without prefix) registered by extensions.
var extraKeys = map[string]bool{}

// RegisterKey declares a setting read by an extension (a site's mapper or task), so that Load does
// not warn about it as unknown. Call it from an init function.
func RegisterKey(name string) { extraKeys[strings.ToUpper(name)] = true }

// Load reads, parses and validates the settings. It returns every problem at once as Problems.
// Variable names are matched case-insensitively; the environment wins over the .env file. A
// variable with the prefix that names no setting is not a problem: it goes to src.Warn.
func Load(src Source) (*Settings, error) {
	var problems Problems
	values := map[string]string{}  // upper-case name without prefix -> raw value
	origin := map[string]Warning{} // the same names -> the variable as written and where

	notify := src.Notify
	if notify == nil {
		notify = func(n Notice) { fmt.Fprintf(os.Stderr, "jobbergate-agent: %s\n", n) }
	}
	dotenv, explicit := src.Dotenv, true
	if dotenv == "" {
		explicit = false
		dotenv = "./.env"
		if _, err := os.Lstat(SnapDotenv); err == nil {
			dotenv = SnapDotenv
		}
	}
	if dotenv != "none" {
		f, notice, err := openDotenv(dotenv, explicit)
		if notice != nil {
			notify(*notice)
		}
		if f != nil {
			kv, perr := ParseDotenv(f)
			f.Close()
			if perr != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", dotenv, perr))
			}
			for k, v := range kv {
				if name, ok := stripPrefix(k); ok {
					values[name] = v
					origin[name] = Warning{Key: k, From: dotenv}
				}
			}
		} else if err != nil && (explicit || !errors.Is(err, os.ErrNotExist)) {
			problems = append(problems, fmt.Sprintf("%s: cannot read the .env file: %v", dotenv, err))
		}
	}
	for _, kv := range src.Environ {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := stripPrefix(k); ok {
			values[name] = v
			origin[name] = Warning{Key: k, From: FromEnvironment}
		}
	}

	s := &Settings{}
	known := map[string]bool{}
	rv := reflect.ValueOf(s).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		name := f.Tag.Get("env")
		known[name] = true
		raw, set := values[name]
		if !set {
			raw = f.Tag.Get("default")
			if raw == "" {
				continue // zero value
			}
			if name == "CACHE_DIR" {
				raw = strings.ReplaceAll(raw, "$HOME", home(src.Home))
			}
		}
		if err := setField(rv.Field(i), raw); err != nil {
			problems = append(problems, fmt.Sprintf("%s%s: %v", Prefix, name, err))
		}
	}
	var unknown []string
	for name := range values {
		if !known[name] && !extraKeys[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		warn := src.Warn
		if warn == nil {
			warn = func(w Warning) { fmt.Fprintf(os.Stderr, "jobbergate-agent: warning: %s\n", w) }
		}
		sort.Strings(unknown)
		names := knownNames()
		for _, name := range unknown {
			w := origin[name]
			if c := closest(name, names); c != "" {
				w.Suggestion = Prefix + c
			}
			warn(w)
		}
	}

	s.derive()
	problems = append(problems, s.validate()...)
	if len(problems) > 0 {
		return s, problems
	}
	return s, nil
}

func home(h string) string {
	if h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "/root"
}

func stripPrefix(k string) (string, bool) {
	if len(k) <= len(Prefix) || !strings.EqualFold(k[:len(Prefix)], Prefix) {
		return "", false
	}
	return strings.ToUpper(k[len(Prefix):]), true
}

var durationType = reflect.TypeOf(time.Duration(0))

// setField parses raw into the field. Empty strings are invalid for numbers, booleans and
// durations, as in the reference (pydantic rejects "" for an int).
func setField(v reflect.Value, raw string) error {
	if v.Type() == durationType {
		d, err := ParseDuration(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := ParseBool(raw)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := parseInt(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
	case reflect.Pointer: // *int: "none"/"null" mean unset
		if l := strings.ToLower(strings.TrimSpace(raw)); l == "none" || l == "null" {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		n, err := parseInt(raw)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(&n))
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v.SetFloat(f)
	case reflect.Slice:
		var items []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

func parseInt(raw string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", raw)
	}
	return n, nil
}

// ParseBool accepts the words pydantic accepts: true/false, 1/0, yes/no, on/off, t/f, y/n, in any
// case.
func ParseBool(raw string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "1", "true", "t", "yes", "y", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use true or false)", raw)
}

// ParseDuration accepts a Go duration ("15s", "2m") or a whole number of seconds ("15"). A
// number of seconds beyond the range of time.Duration (about 292 years) is an error, not a
// wrapped-around value.
func ParseDuration(raw string) (time.Duration, error) {
	raw = strings.TrimSpace(raw)
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		const limit = int64(math.MaxInt64 / time.Second)
		if n > limit || n < -limit {
			return 0, fmt.Errorf("%q seconds is out of range", raw)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 15s, 2m, or seconds)", raw)
	}
	return d, nil
}
