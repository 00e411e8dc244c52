package jobbergate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Test with errors.Is.
var (
	// ErrInvalidResponse: a 2xx answer whose body is not the expected JSON (syntax or types).
	ErrInvalidResponse = errors.New("invalid response body")
	// ErrValidation: a decoded body or item breaks the data model (missing field, bad enum,
	// null where a list is required). Also wrapped by the UnmarshalJSON methods of this package.
	ErrValidation = errors.New("validation error")
	// ErrUnexpectedStatus: the API answered with a non-2xx status.
	ErrUnexpectedStatus = errors.New("unexpected HTTP status")
	// ErrInvalidToken: the access token is not a JWT or carries no exp claim.
	ErrInvalidToken = errors.New("Unable to extract data from the token")
	// ErrAuth: no access token could be obtained from the OIDC provider.
	ErrAuth = errors.New("Failed to get auth token from OIDC")
	// ErrTokenRedirect: the OIDC token endpoint answered with a redirect. It is never followed
	// (a 307 or 308 would post the client secret to the redirect's target); wrapped with ErrAuth.
	ErrTokenRedirect = errors.New("the OIDC token endpoint answered with a redirect, which the agent does not follow")
	// ErrInvalidVersion: a version string is not plain MAJOR.MINOR.PATCH.
	ErrInvalidVersion = errors.New("invalid version")
)

// bodyExcerptLimit is the most bytes of a response body kept in an APIError.
const bodyExcerptLimit = 512

// APIError is the error of every Client call. Its message is the reference agent's base
// message for the call (Message), " -- ", then the cause: the HTTP status with an excerpt of the
// body, a transport error, or a decoding error. It never contains tokens or secrets.
type APIError struct {
	// Message is the base message, e.g. "Failed to fetch pending job submissions".
	Message string
	// Call names the Client method, e.g. "PendingSubmissions".
	Call string
	// Method and Path are the HTTP method and the URL path (without query) of the request.
	Method, Path string
	// StatusCode is the HTTP status, 0 when no response was received.
	StatusCode int
	// Body is at most 512 bytes of the response body (valid UTF-8), for non-2xx answers and
	// bodies that failed to decode.
	Body string
	// Err is the cause: wraps ErrUnexpectedStatus, ErrInvalidResponse, ErrValidation, ErrAuth
	// or a transport error (net.Error, context errors).
	Err error
	// transport is true when no HTTP response could be obtained (connection, timeout).
	transport bool
}

// Error returns "<Message> -- <cause>".
func (e *APIError) Error() string {
	return e.Message + " -- " + e.cause()
}

func (e *APIError) cause() string {
	switch {
	case e.StatusCode != 0 && errors.Is(e.Err, ErrUnexpectedStatus):
		s := fmt.Sprintf("HTTP %d %s for %s %s", e.StatusCode, http.StatusText(e.StatusCode), e.Method, e.Path)
		if e.Body != "" {
			s += ": " + e.Body
		}
		return s
	case e.Body != "":
		return fmt.Sprintf("%v (HTTP %d for %s %s): %s", e.Err, e.StatusCode, e.Method, e.Path, e.Body)
	default:
		return fmt.Sprintf("%v (%s %s)", e.Err, e.Method, e.Path)
	}
}

// Unwrap returns the cause.
func (e *APIError) Unwrap() error { return e.Err }

// IsStatus reports whether err is (or wraps) an *APIError for an HTTP answer with status code.
func IsStatus(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == code
}

// StatusCode returns the HTTP status of the *APIError in err's chain, or 0.
func StatusCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// IsTransient reports whether retrying the same call later may succeed: transport errors
// (connection refused or reset, timeouts including an expired context deadline), HTTP 5xx,
// 408 and 429. It is false for nil, a cancelled context, other 4xx answers and bodies that fail
// to decode or validate (those will not improve by retrying).
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.transport {
			return true
		}
		if ae.StatusCode != 0 && errors.Is(ae.Err, ErrUnexpectedStatus) {
			c := ae.StatusCode
			return c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout
		}
	}
	var te *tokenFetchError
	if errors.As(err, &te) {
		return te.transient
	}
	if errors.Is(err, ErrInvalidResponse) || errors.Is(err, ErrValidation) || errors.Is(err, ErrInvalidToken) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// excerpt returns at most bodyExcerptLimit bytes of b as valid UTF-8: a rune cut at the limit is
// dropped and invalid bytes become "?".
func excerpt(b []byte) string {
	if len(b) > bodyExcerptLimit {
		b = b[:bodyExcerptLimit]
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	return strings.ToValidUTF8(string(b), "?")
}

func validationErr(field, msg string) error {
	return fmt.Errorf("%w: %s: %s", ErrValidation, field, msg)
}

// fieldErr prefixes a nested decoding error with the field it came from. A validation error
// stays one; anything else becomes one too (wrong JSON type for the field).
func fieldErr(field string, err error) error {
	if errors.Is(err, ErrValidation) {
		return fmt.Errorf("%s: %w", field, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrValidation, field, err)
}

// Detail returns what the API said: the "detail" of a FastAPI error body (a string, or the raw
// JSON of a validation list), else the body excerpt, else the error text. It is what a
// dead-letter reason or a log line should quote.
func (e *APIError) Detail() string {
	var body struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal([]byte(e.Body), &body) == nil && len(body.Detail) > 0 {
		var s string
		if json.Unmarshal(body.Detail, &s) == nil {
			return s
		}
		return string(body.Detail)
	}
	if e.Body != "" {
		return e.Body
	}
	return e.Error()
}
