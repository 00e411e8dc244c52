package config

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Entry is one setting as printed by `jobbergate-agent config`.
type Entry struct {
	Name  string `json:"name"`  // full variable name, with the prefix
	Value string `json:"value"` // effective value; secrets masked
	Doc   string `json:"doc"`
}

// Masked is what a secret's value is replaced with when printed.
const Masked = "********"

// Describe lists every setting with its effective value, in declaration order. Secrets are
// masked: a secret that is set prints as Masked, and URLs keep their scheme and host but lose
// their credentials (Sentry's key, InfluxDB's password); a password in any other setting that
// holds URLs (NATS_URL, NATS_LEAF_REMOTE, BASE_API_URL) is masked by RedactURLs.
func Describe(s *Settings) []Entry {
	rv := reflect.ValueOf(s).Elem()
	rt := rv.Type()
	out := make([]Entry, 0, rt.NumField())
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		val := format(rv.Field(i))
		if f.Tag.Get("secret") == "true" && val != "" {
			val = maskSecret(val)
		} else if f.Type.Kind() == reflect.String {
			val = RedactURLs(val) // a password in NATS_URL, NATS_LEAF_REMOTE or BASE_API_URL
		}
		out = append(out, Entry{Name: Prefix + f.Tag.Get("env"), Value: val, Doc: f.Tag.Get("doc")})
	}
	return out
}

func format(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Pointer:
		if v.IsNil() {
			return "none"
		}
		return format(v.Elem())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = v.Index(i).String()
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// maskSecret hides a secret. A URL with credentials keeps its scheme, host and path.
func maskSecret(v string) string {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
		if u.User != nil {
			u.User = url.User(Masked)
		}
		if u.RawQuery != "" { // e.g. ?password=... or ?token=...
			u.RawQuery = Masked
		}
		u.Fragment, u.RawFragment = "", ""
		return u.String()
	}
	return Masked
}
