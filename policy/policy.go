// Package policy reads Holdfast policy files: the YAML form of
// holdfast.Policy. It ships the default policy (docs/design.md as
// data), embedded, and checks any other file strictly: unknown fields,
// unknown names and inconsistent numbers are errors that point at the line
// and field at fault, because a policy decides who may move money.
//
// The file format is documented in docs/policy.md.
package policy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/holdfast/holdfast"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the embedded default policy, for
// operators who want to start their own file from it.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the default policy, parsed, validated and compiled. Each
// call returns a new value that the caller may change (and Compile again).
// It panics only if the embedded file is invalid, which the package's tests
// rule out.
func Default() *holdfast.Policy {
	p, err := Parse(defaultYAML)
	if err != nil {
		panic("policy: the embedded default policy is invalid: " + err.Error())
	}
	return p
}

// Load reads, validates and compiles the policy file at path. Errors are
// those of Parse, or invalid_argument if the file cannot be read.
func Load(path string) (*holdfast.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "", "cannot read the policy file: %v", err)
	}
	return Parse(data)
}

// Parse decodes a policy strictly, validates it and compiles it. The error,
// if any, is the first problem in file order: a *holdfast.Error with code
// invalid_argument, Field the YAML path of the offending field (for example
// "kinds.cooling_off.blocks.deny[1]") and a Message that starts with
// "line N: ". Validate lists every problem.
//
// data is an overlay on the built-in default (overlay.go): what it leaves
// out is the default's. p.Source is the policy's self-contained YAML, data
// itself when it sets every field, and p.Hash names it.
func Parse(data []byte) (*holdfast.Policy, error) {
	return parseAs(data, false)
}

// ParseVersion parses a stored policy version: self-contained, read
// exactly as written, so that it means the same to every release.
func ParseVersion(data []byte) (*holdfast.Policy, error) {
	return parseAs(data, true)
}

func parseAs(data []byte, exact bool) (*holdfast.Policy, error) {
	p, issues := parse(data, exact)
	if len(issues) > 0 {
		return nil, issues[0].err()
	}
	p.Compile()
	p.Hash = holdfast.PolicyHash(p.Source)
	return p, nil
}

// Validate returns every problem in a policy file, in file order, each a
// *holdfast.Error as Parse returns them; nil means the file is valid. When
// the file cannot be decoded (bad YAML, unknown fields, wrong types) only
// those problems are reported, since checking a half-read policy would
// report mostly noise.
func Validate(data []byte) []error {
	_, issues := parse(data, false)
	var errs []error
	for _, is := range issues {
		errs = append(errs, is.err())
	}
	return errs
}

// FormatError formats an error from Parse, Load or Validate the way
// compilers do, "FILE:LINE: field: message", for `holdfast policy validate`.
func FormatError(file string, err error) string {
	var e *holdfast.Error
	if !errors.As(err, &e) {
		return file + ": " + err.Error()
	}
	loc, msg := file, e.Message
	if line, rest, ok := splitLine(msg); ok {
		loc, msg = fmt.Sprintf("%s:%d", file, line), rest
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, msg)
	}
	return loc + ": " + msg
}

// splitLine splits "line N: rest" into N and rest.
func splitLine(msg string) (int, string, bool) {
	s, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg, false
	}
	num, rest, ok := strings.Cut(s, ": ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg, false
	}
	return n, rest, true
}

// parse decodes and checks data, merged onto the default unless exact;
// the issues come sorted by line, the file's before the default's.
func parse(data []byte, exact bool) (*holdfast.Policy, []issue) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, []issue{{line: 1, msg: "the policy file is empty"}}
		}
		return nil, []issue{syntaxIssue(err)}
	}
	// One document per file: a second one would be silently ignored.
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, []issue{syntaxIssue(err)}
		}
		return nil, []issue{{line: extra.Line, msg: "a policy file holds one YAML document; remove the second one"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, []issue{{line: root.Line, msg: "the policy file is empty"}}
	}

	o := applyOverlay(root, exact)
	if len(o.issues) > 0 {
		return nil, sortIssues(o.issues)
	}
	d := &decoder{lines: map[string]int{"": root.Line}}
	p := new(holdfast.Policy)
	d.decode(o.root, reflect.ValueOf(p).Elem(), "")
	issues := d.issues
	if len(issues) == 0 {
		issues = check(p, d.lines)
	}
	if len(issues) > 0 {
		return p, sortIssues(issues)
	}
	gatewayDefaults(&p.Gateway)
	p.Source = data
	if o.differs {
		src, err := render(o.root)
		if err != nil {
			return p, []issue{{line: 1, msg: "cannot write the merged policy: " + err.Error()}}
		}
		p.Source = src
	}
	return p, nil
}

func sortIssues(issues []issue) []issue {
	slices.SortStableFunc(issues, func(a, b issue) int { return a.line - b.line })
	return issues
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yaml.v3 gives the line of its parser's errors (as opposed to its
// scanner's) counted from 0; these are their texts.
var parserProblems = []string{"did not find expected", "found duplicate %", "found incompatible YAML document", "found undefined tag handle"}

// syntaxIssue turns a yaml.v3 syntax error ("yaml: line 3: did not find
// expected key") into an issue.
func syntaxIssue(err error) issue {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		if slices.ContainsFunc(parserProblems, func(p string) bool { return strings.HasPrefix(m[2], p) }) {
			n++
		}
		return issue{line: n, msg: "invalid YAML: " + m[2]}
	}
	return issue{line: 1, msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}
