package gateway

import (
	"errors"
	"strings"
)

// MaxPathLen bounds a request path; a longer one is refused, not matched.
const MaxPathLen = 8192

// Reasons a request path is refused rather than matched.
var (
	ErrPathEmpty    = errors.New("the path does not start with /")
	ErrPathTooLong  = errors.New("the path is longer than 8192 bytes")
	ErrPathEncoding = errors.New("the path has a bad or doubled percent-encoding")
	ErrPathDotDot   = errors.New("the path has a .. segment")
	ErrPathChar     = errors.New("the path has a control character, a backslash or a semicolon")
)

// Clean turns a request path as sent (percent-encoded, possibly with a
// query) into the path routes are matched against (decision 129): the
// query and fragment are dropped, percent-encoding is decoded once
// (%2F becomes a /), empty and "." segments and a trailing / are removed.
// A path that could mean something else to the server behind the gateway
// is refused: one with a ".." segment, a "%" left after decoding (double
// encoding), a backslash, a semicolon (servlet containers strip ";params"
// from a segment) or a control character, or a bad escape.
func Clean(raw string) (string, error) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	switch {
	case len(raw) > MaxPathLen:
		return "", ErrPathTooLong
	case raw == "" || raw[0] != '/':
		return "", ErrPathEmpty
	}
	if isClean(raw) {
		return raw, nil // the common case: no copy
	}
	p, err := unescape(raw)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(p))
	for seg := range strings.SplitSeq(p[1:], "/") {
		switch seg {
		case "", ".":
			continue
		case "..":
			return "", ErrPathDotDot
		}
		b.WriteByte('/')
		b.WriteString(seg)
	}
	if b.Len() == 0 {
		return "/", nil
	}
	return b.String(), nil
}

// isClean reports whether raw needs no work: no escapes, no refused
// character, no empty or dot segment, no trailing /.
func isClean(raw string) bool {
	if len(raw) > 1 && raw[len(raw)-1] == '/' {
		return false
	}
	prev := byte(0)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%' || c == '\\' || c == ';' || c < 0x20 || c == 0x7f:
			return false
		case c == '/' && prev == '/':
			return false
		case c == '.' && prev == '/':
			return false // "/." starts ".", ".." or a dot-file: the slow path decides
		}
		prev = c
	}
	return true
}

// unescape decodes %XX once and refuses what decodes to a "%", "\", ";"
// or a control character.
func unescape(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", ErrPathEncoding
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
			if c == '%' {
				return "", ErrPathEncoding
			}
		}
		if c == '\\' || c == ';' || c < 0x20 || c == 0x7f {
			return "", ErrPathChar
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
