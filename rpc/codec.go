package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/holdfast/holdfast"
)

// JSON is how the API writes and reads JSON. Proto field names (snake_case,
// docs/design.md's words); lists and plain fields always present ("causes": [],
// "effect": "allow") while `optional` fields and unset times are left out,
// so a cause without an id or kind carries no empty "id" or "kind". Unknown fields
// are errors, never silently dropped.
var (
	jsonOut = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}
	jsonIn  = protojson.UnmarshalOptions{DiscardUnknown: false}
)

// MarshalJSON renders m the way the API does (the CLI's --json uses it).
// protojson deliberately varies its spacing from build to build; compacting
// makes the bytes stable, so that answers can be compared and cached.
func MarshalJSON(m proto.Message) ([]byte, error) {
	b, err := jsonOut.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(b))
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// jsonCodec replaces connect's JSON codec, under both names connect knows
// ("json" and "json; charset=utf-8").
type jsonCodec struct{ name string }

func (c jsonCodec) Name() string { return c.name }

func (c jsonCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("rpc: cannot marshal %T to JSON", v)
	}
	return MarshalJSON(m)
}

func (c jsonCodec) Unmarshal(b []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("rpc: cannot unmarshal JSON into %T", v)
	}
	if err := jsonIn.Unmarshal(b, m); err != nil {
		return jsonError(err, b)
	}
	return nil
}

func codecOptions() []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(jsonCodec{"json"}),
		connect.WithCodec(jsonCodec{"json; charset=utf-8"}),
	}
}

// protojson names the offending field in its messages but offers no
// structured form; these pull it out so the error can name it.
var (
	jsonFieldRE = regexp.MustCompile(`(?:unknown field|duplicate field|invalid value for \w+ field) "?([A-Za-z_][A-Za-z0-9_]*)"?`)
	// A well-known type's bad value ("until": "tomorrow") is reported by
	// position only; the field is the last key before it.
	jsonValueRE = regexp.MustCompile(`^\(line (\d+):(\d+)\): invalid [\w.]+ value`)
	jsonKeyRE   = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)"\s*:\s*$`)
)

// jsonError turns a protojson decoding error of body into invalid_argument
// naming the field, or "body" when the JSON itself is malformed.
func jsonError(err error, body []byte) *holdfast.Error {
	return jsonErrorIn("request", err, body)
}

// jsonErrorIn is jsonError for a part of a request ("event").
func jsonErrorIn(what string, err error, body []byte) *holdfast.Error {
	msg := err.Error()
	// protojson prefixes "proto:" followed by a space that is sometimes a
	// non-breaking one (deliberately, to discourage matching); drop both.
	if _, rest, ok := strings.Cut(msg, "proto:"); ok {
		msg = strings.TrimLeft(rest, " \u00a0")
	}
	field := "body"
	if what != "request" {
		field = "" // a part of the body: the field is unknown
	}
	if m := jsonFieldRE.FindStringSubmatch(msg); m != nil {
		field = m[1]
	} else if m := jsonValueRE.FindStringSubmatch(msg); m != nil {
		if k := jsonKeyRE.FindSubmatch(prefix(body, m[1], m[2])); k != nil {
			field = string(k[1])
		}
	}
	return holdfast.Errorf(holdfast.InvalidArgument, field, "invalid JSON %s: %s", what, msg)
}

// prefix is body up to the 1-based line and column protojson reports.
func prefix(body []byte, line, col string) []byte {
	l, _ := strconv.Atoi(line)
	c, _ := strconv.Atoi(col)
	off := 0
	for ; l > 1 && off < len(body); l-- {
		i := bytes.IndexByte(body[off:], '\n')
		if i < 0 {
			return body
		}
		off += i + 1
	}
	return body[:min(off+c-1, len(body))]
}
