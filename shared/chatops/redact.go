package chatops

import (
	"net/url"
	"strings"
)

// An incoming-webhook URL and a click's response_url are credentials: whoever has one can post
// to the channel. net/http and slack-go put the URL into their errors (`Post "https://…":
// dial tcp …`), and those errors are wrapped and logged, so every error that may carry one is
// redacted where the URL is used.

// RedactURL keeps what helps an operator (scheme and host) and drops the path and query, where
// the secret is.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[redacted URL]"
	}
	return u.Scheme + "://" + u.Host + "/[redacted]"
}

// redactedError hides secret URLs in an error's text and keeps the chain intact, so retry
// classification (errors.As for timeouts, 429s, 5xx) still sees the original error.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	s := e.err.Error()
	for _, sec := range e.secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, RedactURL(sec))
		// net/url and some libraries quote or escape the URL; redact those spellings too.
		if q := url.QueryEscape(sec); q != sec {
			s = strings.ReplaceAll(s, q, RedactURL(sec))
		}
		if u, err := url.Parse(sec); err == nil && len(u.Path) > 1 {
			s = strings.ReplaceAll(s, u.Path, "/[redacted]")
			if u.RawQuery != "" {
				s = strings.ReplaceAll(s, u.RawQuery, "[redacted]")
			}
		}
	}
	return s
}

func (e *redactedError) Unwrap() error { return e.err }

// redact wraps err so its text never carries the given secret URLs.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, secrets: secrets}
}
