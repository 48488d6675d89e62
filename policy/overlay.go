package policy

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// A policy file is an overlay on the built-in default: it sets only what
// it changes, and every field it leaves out is the default's. So an
// operator's file does not break, or silently lose a protection, when a
// release adds a field. The rules merge by id; any other list replaces
// the default's whole. "extends: none" turns inheritance off.
//
// The merge works on the YAML node trees, before decoding, so that the
// decoder and the checks see one tree in which every node keeps its line:
// a problem in a field the file sets is reported at the file's line, one
// in an inherited field as the default's (inheritedLine).

// inheritedLine is added to the lines of nodes taken from the default, so
// that an issue can tell the file's lines from the default's: no policy
// file comes near a million lines (maxPolicyBytes is far less).
const inheritedLine = 1_000_000

// extendsKey names the base of a policy file.
const extendsKey = "extends"

// The values extends may take.
const (
	extendsDefault = "default"
	extendsNone    = "none"
)

// removeKey, on an overlay's rule, drops the default's rule of that id.
const removeKey = "remove"

// overlay is a policy file's tree merged onto the default's.
type overlay struct {
	root *yaml.Node // the tree to decode
	// merged says whether the file was merged onto the default (extends
	// is not none); differs whether the merge left anything the file's
	// text does not say (an inherited field, a removed rule, extends).
	merged, differs bool
	issues          []issue
}

// applyOverlay reads root's extends key (removing it) and, unless it says
// none or exact forbids a merge, merges root onto the default. exact is
// for stored versions: they were saved self-contained, and must mean the
// same whichever release reads them.
func applyOverlay(root *yaml.Node, exact bool) overlay {
	o := overlay{root: root}
	if root.Kind != yaml.MappingNode {
		return o // the decoder reports what is wrong with it
	}
	extends := extendsDefault
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		if key.Value != extendsKey {
			continue
		}
		if val.Kind != yaml.ScalarNode || (val.Value != extendsDefault && val.Value != extendsNone) {
			o.issues = append(o.issues, issue{line: val.Line, field: extendsKey, msg: `want "default" (inherit every field the file leaves out from the built-in default) or "none" (the file stands alone)`})
			return o
		}
		extends = val.Value
		stripped := *root
		stripped.Content = append(append([]*yaml.Node{}, root.Content[:i]...), root.Content[i+2:]...)
		o.root = &stripped
		o.differs = true
		break
	}
	if extends == extendsNone {
		return o
	}
	if exact {
		if o.root != root {
			o.issues = append(o.issues, issue{line: root.Line, field: extendsKey, msg: "a stored policy version is self-contained: it cannot extend the default"})
		}
		return o
	}
	o.merged = true
	o.root = o.mergeMapping(defaultTree(), o.root, "")
	return o
}

// defaultTree returns a fresh node tree of the default policy, its lines
// moved by inheritedLine.
func defaultTree() *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(defaultYAML, &doc); err != nil {
		panic("policy: the embedded default policy is invalid YAML: " + err.Error())
	}
	var shift func(n *yaml.Node)
	shift = func(n *yaml.Node) {
		n.Line += inheritedLine
		for _, c := range n.Content {
			shift(c)
		}
	}
	shift(&doc)
	return doc.Content[0]
}

// mergeValue merges over onto base, both at path.
func (o *overlay) mergeValue(base, over *yaml.Node, path string) *yaml.Node {
	target := over
	if over.Kind == yaml.AliasNode {
		target = over.Alias
	}
	switch {
	case base.Kind == yaml.MappingNode && target.Kind == yaml.MappingNode:
		return o.mergeMapping(base, target, path)
	case path == "rules" && base.Kind == yaml.SequenceNode && target.Kind == yaml.SequenceNode:
		return o.mergeRules(base, target)
	}
	return over // a scalar, a list, or a change of shape: the file's own
}

// mergeMapping returns base's fields in base's order, each merged with
// the file's value for it, then the fields only over has (the decoder
// reports the unknown ones). A key over gives twice is left for the
// decoder to report.
func (o *overlay) mergeMapping(base, over *yaml.Node, path string) *yaml.Node {
	out := *over
	out.Content, out.Style = nil, base.Style // the default's layout for what it brings
	given := map[string]*yaml.Node{}
	var order []*yaml.Node // over's keys, first of each
	for i := 0; i+1 < len(over.Content); i += 2 {
		k := over.Content[i]
		if _, dup := given[k.Value]; dup {
			continue
		}
		given[k.Value] = over.Content[i+1]
		order = append(order, k)
	}
	taken := map[string]bool{}
	for i := 0; i+1 < len(base.Content); i += 2 {
		k, v := base.Content[i], base.Content[i+1]
		if ov, ok := given[k.Value]; ok {
			taken[k.Value] = true
			out.Content = append(out.Content, keyOf(order, k.Value), o.mergeValue(v, ov, join(path, k.Value)))
			continue
		}
		o.differs = true
		out.Content = append(out.Content, k, v)
	}
	for i := 0; i+1 < len(over.Content); i += 2 {
		if k := over.Content[i]; !taken[k.Value] || k != keyOf(order, k.Value) {
			out.Content = append(out.Content, k, over.Content[i+1])
		}
	}
	return &out
}

// keyOf returns the first key node named name.
func keyOf(keys []*yaml.Node, name string) *yaml.Node {
	for _, k := range keys {
		if k.Value == name {
			return k
		}
	}
	return nil
}

// mergeRules merges the file's rules onto the default's by id: a rule
// with a default rule's id changes it in place (only the fields it gives),
// one with "remove: true" drops it, and a new id comes after the default's
// rules, in the file's order.
func (o *overlay) mergeRules(base, over *yaml.Node) *yaml.Node {
	out := *over
	out.Content, out.Style = nil, base.Style
	at := map[string]int{} // id -> index in out.Content
	for _, r := range base.Content {
		if id := scalarField(r, "id"); id != "" {
			at[id] = len(out.Content)
		}
		out.Content = append(out.Content, r)
	}
	removed := map[int]bool{}
	given := map[string]int{} // id -> index, in the file
	for i, r := range over.Content {
		path := fmt.Sprintf("rules[%d]", i)
		id := scalarField(r, "id")
		if first, dup := given[id]; dup && id != "" {
			o.issues = append(o.issues, issue{line: r.Line, field: path + ".id", msg: fmt.Sprintf("rule id %s is used by rules[%d] too", id, first)})
			continue
		}
		given[id] = i
		idx, known := at[id]
		if remove := field(r, removeKey); remove != nil {
			switch {
			case remove.Kind != yaml.ScalarNode || remove.ShortTag() != "!!bool" || remove.Value != "true":
				o.issues = append(o.issues, issue{line: remove.Line, field: path + "." + removeKey, msg: "want true (to drop the default's rule of this id), or leave it out"})
			case !known:
				o.issues = append(o.issues, issue{line: remove.Line, field: path + "." + removeKey, msg: fmt.Sprintf("the built-in default has no rule %q to remove", id)})
			default:
				removed[idx] = true
				o.differs = true
			}
			continue
		}
		if known {
			out.Content[idx] = o.mergeValue(out.Content[idx], r, path)
			continue
		}
		out.Content = append(out.Content, r)
	}
	kept := out.Content[:0:0]
	for i, r := range out.Content {
		if !removed[i] {
			kept = append(kept, r)
		}
	}
	out.Content = kept
	return &out
}

// field returns the value of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalarField returns the scalar value of key in mapping n, or "".
func scalarField(n *yaml.Node, key string) string {
	if v := field(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// render writes a merged tree as the YAML of a self-contained policy.
func render(root *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# The built-in default policy with an overlay's settings merged in\n# (holdfast policy show --effective).\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
