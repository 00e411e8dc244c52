package jobbergate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// tokenExpiry reads the exp claim of a JWT without verifying its signature (the API verifies
// it; the agent only needs to know when to refresh). A string that is not a three-part JWT
// with a JSON payload, or a payload without a numeric exp, gives ErrInvalidToken. The error
// never contains the token.
func tokenExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("%w: not a JWT", ErrInvalidToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: payload is not base64url", ErrInvalidToken)
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return time.Time{}, fmt.Errorf("%w: payload is not a JSON object", ErrInvalidToken)
	}
	if claims.Exp == nil {
		return time.Time{}, fmt.Errorf("%w: no exp claim", ErrInvalidToken)
	}
	exp, err := claims.Exp.Float64()
	if err != nil || math.IsNaN(exp) || math.IsInf(exp, 0) || exp < 0 || exp > 1<<53 {
		return time.Time{}, fmt.Errorf("%w: exp claim is not a valid time", ErrInvalidToken)
	}
	return time.Unix(int64(exp), 0), nil
}
