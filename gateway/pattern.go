package gateway

import (
	"fmt"
	"strings"
)

// pattern is a route's path, split once at load so that matching a
// request walks segments without a regular expression or allocation.
type pattern struct {
	// segs are the segments after the leading "/". A param segment
	// matches any one non-empty segment.
	segs []segment
	// prefix: the last segment ended in "*", so it matches any segment
	// starting with its text, and any segments after it.
	prefix bool
}

type segment struct {
	text  string // literal text, or the prefix before "*"
	param bool
}

// MaxPatternLen bounds a route's path in the policy.
const MaxPatternLen = 512

// parsePattern checks and splits a route path: it starts with "/", has no
// empty, "." or ".." segment (a cleaned request never has one, so such a
// route could never match), "*" only at its very end, "{name}" only as a
// whole segment, and otherwise URL path characters.
func parsePattern(p string) (pattern, error) {
	switch {
	case p == "":
		return pattern{}, fmt.Errorf("a path is required")
	case len(p) > MaxPatternLen:
		return pattern{}, fmt.Errorf("path is longer than %d characters", MaxPatternLen)
	case p[0] != '/':
		return pattern{}, fmt.Errorf("path %q must start with /", p)
	}
	var pt pattern
	body := p[1:]
	if strings.HasSuffix(body, "*") {
		pt.prefix = true
		body = body[:len(body)-1]
	}
	if body == "" {
		// "/" alone, or "/*": one segment, empty or a prefix of anything.
		if !pt.prefix {
			return pattern{}, nil
		}
		pt.segs = []segment{{}}
		return pt, nil
	}
	parts := strings.Split(body, "/")
	for i, s := range parts {
		last := i == len(parts)-1
		switch {
		case s == "" && !(last && pt.prefix):
			return pattern{}, fmt.Errorf("path %q has an empty segment (//, or a / at the end)", p)
		case s == "." || s == "..":
			return pattern{}, fmt.Errorf("path %q has a %q segment, which no cleaned request path has", p, s)
		case strings.HasPrefix(s, "{") || strings.HasSuffix(s, "}"):
			name, ok := strings.CutPrefix(s, "{")
			name, ok2 := strings.CutSuffix(name, "}")
			if !ok || !ok2 || !isName(name) {
				return pattern{}, fmt.Errorf("path %q: a parameter is a whole segment {name}, name letters, digits or _", p)
			}
			if last && pt.prefix {
				return pattern{}, fmt.Errorf("path %q: write {%s}/* rather than {%s}*", p, name, name)
			}
			pt.segs = append(pt.segs, segment{param: true})
		default:
			if i := strings.IndexFunc(s, notPathChar); i >= 0 {
				return pattern{}, fmt.Errorf("path %q: %q is not allowed in a route (* only at the end)", p, s[i:i+1])
			}
			pt.segs = append(pt.segs, segment{text: s})
		}
	}
	return pt, nil
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// notPathChar: route literals are RFC 3986 unreserved characters plus the
// sub-delimiters a REST path uses; no "%" (routes are written decoded),
// "*", "{", "}", "?", "#" or "\".
func notPathChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~!$&'()+,;=:@", r)
}

// match reports whether the cleaned path p (starting with "/") matches.
// Literals compare ignoring ASCII case (decision 129).
func (pt *pattern) match(p string) bool {
	rest := p[1:]
	if len(pt.segs) == 0 {
		return rest == ""
	}
	for i := range pt.segs {
		seg, more := rest, false
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			seg, rest, more = rest[:j], rest[j+1:], true
		} else {
			rest = ""
		}
		s := &pt.segs[i]
		last := i == len(pt.segs)-1
		switch {
		case last && pt.prefix:
			return len(seg) >= len(s.text) && strings.EqualFold(seg[:len(s.text)], s.text)
		case s.param:
			if seg == "" {
				return false
			}
		case !strings.EqualFold(seg, s.text):
			return false
		}
		if last {
			return !more
		}
		if !more {
			return false
		}
	}
	return false
}
