package policy

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/holdfast/holdfast"
)

// issue is one problem in a policy file, kept with its line so that the
// problems can be reported in file order.
type issue struct {
	line  int
	field string
	msg   string
}

func (is issue) err() *holdfast.Error {
	if is.line > inheritedLine {
		// An inherited field the file's settings made wrong: the field
		// names it, the line is the default's.
		return &holdfast.Error{Code: holdfast.InvalidArgument, Field: is.field,
			Message: fmt.Sprintf("inherited from line %d of the built-in default: %s", is.line-inheritedLine, is.msg)}
	}
	return &holdfast.Error{Code: holdfast.InvalidArgument, Field: is.field, Message: fmt.Sprintf("line %d: %s", is.line, is.msg)}
}

// decoder fills a value from a YAML node tree. It does the decoding itself
// rather than through yaml.v3's struct decoder so that every problem,
// including an unknown field or a bad duration, carries the field's YAML
// path and line, and so that it records the line of every path it saw for
// the semantic checks that follow.
type decoder struct {
	// lines maps each path present in the file ("kinds.cooling_off.blocks",
	// "kinds.cooling_off.blocks.deny[1]") to its line; "" is the root.
	lines  map[string]int
	issues []issue
	// expanded counts alias expansions, to stop a "billion laughs" file.
	// (A cycle cannot recurse forever: each step descends into a field of
	// the policy types, which are not recursive.)
	expanded int
}

// maxAliases bounds alias expansions; a real policy needs a handful.
const maxAliases = 1000

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.issues = append(d.issues, issue{line: line, field: path, msg: fmt.Sprintf(format, args...)})
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// decode stores n into v; path names v in the file.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		if d.expanded++; d.expanded > maxAliases {
			if d.expanded == maxAliases+1 {
				d.fail(path, n.Line, "aliases are expanded more than %d times", maxAliases)
			}
			return
		}
		n = n.Alias
	}
	// An empty value ("deny:" or "~") leaves the zero value, as yaml.v3 does.
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		if d.want(n, yaml.ScalarNode, path) {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.fail(path, n.Line, "%s", errorMessage(err))
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		if !d.want(n, yaml.SequenceNode, path) {
			return
		}
		// A non-nil empty slice for "[]": deny_all_except: [] denies all.
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, el := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = el.Line
			d.decode(el, s.Index(i), p)
		}
		v.Set(s)
	case reflect.String:
		if d.want(n, yaml.ScalarNode, path) {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		// Only true and false: YAML 1.1's yes/no/on/off are too easy to
		// misread in a security policy.
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || err != nil {
			d.fail(path, n.Line, "want true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || err != nil {
			d.fail(path, n.Line, "want a whole number")
			return
		}
		v.SetInt(int64(i))
	default:
		// A field type the domain may add later (a float, a time.Duration):
		// let yaml.v3 read it.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(path, n.Line, "want %s", friendlyType(v.Type()))
		}
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.MappingNode, path) {
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := join(path, key.Value)
		if !d.key(key, p, seen) {
			continue
		}
		idx, ok := fields[key.Value]
		if !ok {
			d.fail(p, key.Line, "unknown field %q (known fields: %s)", key.Value, strings.Join(sortedKeys(fields), ", "))
			continue
		}
		d.lines[p] = key.Line
		d.decode(val, v.Field(idx), p)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.MappingNode, path) {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := join(path, key.Value)
		if !d.key(key, p, seen) {
			continue
		}
		d.lines[p] = key.Line
		// Map keys are string types (Kind, Role); whether the value is one
		// of the known ones is a semantic check.
		k := reflect.New(v.Type().Key()).Elem()
		k.SetString(key.Value)
		el := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, el, p)
		v.SetMapIndex(k, el)
	}
}

// key checks a mapping key: a plain scalar, not seen before in its mapping.
func (d *decoder) key(key *yaml.Node, path string, seen map[string]int) bool {
	if key.Kind != yaml.ScalarNode {
		d.fail(path, key.Line, "a key must be a plain name")
		return false
	}
	if first, dup := seen[key.Value]; dup {
		d.fail(path, key.Line, "%q is given twice (first on line %d)", key.Value, first)
		return false
	}
	seen[key.Value] = key.Line
	return true
}

var nodeKindNames = map[yaml.Kind]string{
	yaml.ScalarNode:   "a single value",
	yaml.SequenceNode: "a list",
	yaml.MappingNode:  "a mapping of fields",
}

// want reports whether n is of kind k, recording an issue if not.
func (d *decoder) want(n *yaml.Node, k yaml.Kind, path string) bool {
	if n.Kind == k {
		return true
	}
	d.fail(path, n.Line, "want %s, not %s", nodeKindNames[k], nodeKindNames[n.Kind])
	return false
}

func friendlyType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	}
	return "a value of type " + t.String()
}

// yamlFields maps the yaml names of t's fields to their indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// errorMessage is err's text without a code or field the caller re-adds.
func errorMessage(err error) string {
	var e *holdfast.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
