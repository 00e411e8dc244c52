package config

import "strings"

// RedactURLs hides the passwords in a URL or a comma-separated list of URLs (NATS_URL,
// NATS_LEAF_REMOTE, BASE_API_URL): "nats://agent:s3cret@host:4222" prints as
// "nats://agent:********@host:4222". A NATS URL whose user part has no password carries a token
// there ("nats://t0ken@host"), which is masked whole. Everything else is kept as written; a value
// that is not a URL with credentials is returned unchanged.
func RedactURLs(v string) string {
	if !strings.Contains(v, "@") {
		return v
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = redactURL(p)
	}
	return strings.Join(parts, ",")
}

func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return raw
	}
	userinfo := rest[:at]
	user, _, hasPassword := strings.Cut(userinfo, ":")
	switch s := strings.ToLower(strings.TrimSpace(scheme)); {
	case hasPassword:
		userinfo = user + ":" + Masked
	case s == "nats" || s == "tls" || s == "ws" || s == "wss":
		userinfo = Masked // a NATS token
	}
	return scheme + "://" + userinfo + rest[at:]
}
