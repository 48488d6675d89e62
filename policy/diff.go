package policy

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/holdfast/holdfast"
)

// Change is one difference between two policies, as `holdfast policy diff`
// prints it. Text is for people ("rule api_burst: then apply reduce_only
// duration 24h → 12h"); Op, Path, Old and New are the same change for
// programs.
type Change struct {
	// Op is "changed", "added", "removed" or "moved".
	Op string `json:"op"`
	// Path is the YAML path of what changed, with rules named by id
	// ("rules[api_burst].then[0].apply.duration") and a kind's blocks
	// by the effect on each action ("kinds.withdrawal_freeze.effects.withdraw").
	Path string `json:"path"`
	// Old and New are the values before and after, as written in a policy
	// file; "" for a value that is absent (Old of an addition, say). A list
	// is a JSON array of strings, a section or rule compact JSON, a move
	// the index before and after, a gateway route or rule action as in
	// Text ("POST /api/v1/withdrawals withdraw").
	Old  string `json:"old"`
	New  string `json:"new"`
	Text string `json:"text"`
}

// String returns the change's text.
func (c Change) String() string { return c.Text }

// The operations of a Change.
const (
	OpChanged = "changed"
	OpAdded   = "added"
	OpRemoved = "removed"
	OpMoved   = "moved"
)

// Diff lists what differs between two policies in terms of what they do:
// rules matched by id (with a rule that changed place among the others
// reported as moved), kinds by name with their blocks compared as the
// per-action effects the engine enforces (Blocks.Table, as Compile builds
// them), gateway routes by position in the first-match order, lists of
// names as members added and removed, and every other field by its YAML
// path. Comments, layout and values equal after the loader's defaults make
// no difference. The changes are grouped by section in the order of the
// Policy fields (kinds first, rules last), then by name or position.
func Diff(old, new *holdfast.Policy) []Change {
	d := &differ{}
	d.policy(old, new)
	return d.out
}

type differ struct{ out []Change }

// emit records a change; label is what the text names ("kind panic_lock:
// max_duration"). old and new are the machine form; the text shows them
// quoted when quote is set.
func (d *differ) emit(op, path, label, old, new string) {
	d.emitText(op, path, label, old, new, old, new)
}

func (d *differ) emitText(op, path, label, old, new, textOld, textNew string) {
	var text string
	switch op {
	case OpChanged:
		text = fmt.Sprintf("%s%s%s → %s", label, colon(label), show(textOld), show(textNew))
	case OpAdded:
		text = fmt.Sprintf("%s%sadded %s", label, colon(label), textNew)
	case OpRemoved:
		text = fmt.Sprintf("%s%sremoved (was %s)", label, colon(label), textOld)
	}
	d.out = append(d.out, Change{Op: op, Path: path, Old: old, New: new, Text: strings.TrimSuffix(text, " ")})
}

// colon separates a label from what follows: a path-like label takes a
// colon ("withdrawal_review.single_usd: "), a worded one that has its own
// ("rule x: when ") a space.
func colon(label string) string {
	if strings.Contains(label, ":") {
		return " "
	}
	return ": "
}

// show writes a value for the text: "(none)" for an absent one.
func show(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// policy walks the top level, handing kinds, rules and gateway routes to
// their own comparisons and the rest to the generic walk.
func (d *differ) policy(a, b *holdfast.Policy) {
	av, bv := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := av.Type()
	for i := range t.NumField() {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		switch name {
		case "kinds":
			d.kinds(a.Kinds, b.Kinds)
		case "rules":
			d.rules(a.Rules, b.Rules)
		case "gateway":
			d.gateway(&a.Gateway, &b.Gateway)
		default:
			d.walk(name, name, av.Field(i), bv.Field(i))
		}
	}
}

// yamlName is a struct field's YAML name, "" for a field not in the file.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if !f.IsExported() || name == "-" {
		return ""
	}
	return name
}

// walk compares two values of the same type found at path (label in the
// text) and records every difference.
func (d *differ) walk(path, label string, a, b reflect.Value) {
	if isScalar(a.Type()) {
		if sa, sb := scalar(a), scalar(b); sa != sb {
			d.emitText(OpChanged, path, label, sa, sb, quote(a, sa), quote(b, sb))
		}
		return
	}
	switch a.Kind() {
	case reflect.Pointer:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil():
			d.emit(OpAdded, path, label, "", compact(b.Interface()))
		case b.IsNil():
			d.emit(OpRemoved, path, label, compact(a.Interface()), "")
		default:
			d.walk(path, label, a.Elem(), b.Elem())
		}
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			if name := yamlName(t.Field(i)); name != "" {
				d.walk(path+"."+name, sep(label)+name, a.Field(i), b.Field(i))
			}
		}
	case reflect.Map:
		d.walkMap(path, label, a, b)
	case reflect.Slice:
		if isScalar(a.Type().Elem()) {
			d.members(path, label, a, b)
		} else {
			d.walkList(path, label, a, b)
		}
	default:
		// Interfaces and the like are not part of the file.
	}
}

// sep joins a label and a field name: with a space in a worded label
// ("kind x: lift mode"), with a dot in a path-like one ("a.b").
func sep(label string) string {
	if strings.Contains(label, ":") {
		return label + " "
	}
	return label + "."
}

func (d *differ) walkMap(path, label string, a, b reflect.Value) {
	keys := map[string]reflect.Value{}
	for _, m := range []reflect.Value{a, b} {
		for _, k := range m.MapKeys() {
			keys[k.String()] = k
		}
	}
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		k := keys[n]
		va, vb := a.MapIndex(k), b.MapIndex(k)
		p, l := path+"."+n, sep(label)+n
		switch {
		case !va.IsValid():
			d.emit(OpAdded, p, l, "", value(vb))
		case !vb.IsValid():
			d.emit(OpRemoved, p, l, value(va), "")
		default:
			d.walk(p, l, va, vb)
		}
	}
}

// members compares lists of names or numbers as members added and removed
// (counting repeats); a change of order alone is reported as such.
func (d *differ) members(path, label string, a, b reflect.Value) {
	as, bs := scalars(a), scalars(b)
	if slices.Equal(as, bs) {
		return
	}
	var parts []string
	left := slices.Clone(bs)
	var removed []string
	for _, s := range as {
		if i := slices.Index(left, s); i >= 0 {
			left = slices.Delete(left, i, i+1)
		} else {
			removed = append(removed, s)
		}
	}
	for _, s := range left {
		parts = append(parts, "+ "+quoteText(s))
	}
	for _, s := range removed {
		parts = append(parts, "− "+quoteText(s))
	}
	text := strings.Join(parts, ", ")
	if len(parts) == 0 {
		text = "reordered " + bracketed(as) + " → " + bracketed(bs)
	}
	d.out = append(d.out, Change{Op: OpChanged, Path: path, Old: jsonList(as), New: jsonList(bs), Text: label + colon(label) + text})
}

// walkList compares lists of sections position by position, after lining
// up the equal ones so that an insertion is one addition, not a change of
// everything after it. Paths use the new index (the old one for a removal).
func (d *differ) walkList(path, label string, a, b reflect.Value) {
	for _, p := range align(a.Len(), b.Len(), func(i, j int) bool { return reflect.DeepEqual(a.Index(i).Interface(), b.Index(j).Interface()) }) {
		switch {
		case p.i < 0:
			d.emit(OpAdded, fmt.Sprintf("%s[%d]", path, p.j), fmt.Sprintf("%s[%d]", label, p.j), "", value(b.Index(p.j)))
		case p.j < 0:
			d.emit(OpRemoved, fmt.Sprintf("%s[%d]", path, p.i), fmt.Sprintf("%s[%d]", label, p.i), value(a.Index(p.i)), "")
		default:
			d.walk(fmt.Sprintf("%s[%d]", path, p.j), fmt.Sprintf("%s[%d]", label, p.j), a.Index(p.i), b.Index(p.j))
		}
	}
}

// pair is one step of an alignment: i in the old list, j in the new, -1
// for none.
type pair struct{ i, j int }

// align lines up two lists: the longest common subsequence of equal
// elements is kept; between two kept elements the remaining ones are
// paired in order (a change) and what is left over is removed or added.
// Equal pairs are included.
func align(n, m int, eq func(i, j int) bool) []pair {
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if eq(i, j) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []pair
	var gapA, gapB []int
	flush := func() {
		k := min(len(gapA), len(gapB))
		for x := range k {
			out = append(out, pair{gapA[x], gapB[x]})
		}
		for _, i := range gapA[k:] {
			out = append(out, pair{i, -1})
		}
		for _, j := range gapB[k:] {
			out = append(out, pair{-1, j})
		}
		gapA, gapB = gapA[:0], gapB[:0]
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && eq(i, j) && lcs[i][j] == lcs[i+1][j+1]+1:
			flush()
			out = append(out, pair{i, j})
			i, j = i+1, j+1
		case j >= m || (i < n && lcs[i+1][j] >= lcs[i][j+1]):
			gapA = append(gapA, i)
			i++
		default:
			gapB = append(gapB, j)
			j++
		}
	}
	flush()
	return out
}

// kinds compares kinds by name. A kind's blocks are compared as the effect
// on each action; the blocks as written are reported only when they differ
// with the same effects (a rewrite that changes nothing enforced).
func (d *differ) kinds(a, b map[holdfast.Kind]*holdfast.KindPolicy) {
	names := map[holdfast.Kind]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	// Fixed kinds in docs/design.md order, then any others by name.
	order := slices.Clone(holdfast.Kinds)
	var extra []holdfast.Kind
	for k := range names {
		if !k.Valid() {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	order = append(order, extra...)
	for _, k := range order {
		if !names[k] {
			continue
		}
		ka, kb := a[k], b[k]
		path, label := "kinds."+string(k), "kind "+string(k)+":"
		switch {
		case ka == nil && kb == nil:
			continue
		case ka == nil:
			d.out = append(d.out, Change{Op: OpAdded, Path: path, New: compact(kb), Text: fmt.Sprintf("kind %s: added (%s)", k, effectSummary(kb.Blocks.Table()))})
			continue
		case kb == nil:
			d.out = append(d.out, Change{Op: OpRemoved, Path: path, Old: compact(ka), Text: fmt.Sprintf("kind %s: removed (was %s)", k, effectSummary(ka.Blocks.Table()))})
			continue
		}
		av, bv := reflect.ValueOf(ka).Elem(), reflect.ValueOf(kb).Elem()
		t := av.Type()
		for i := range t.NumField() {
			name := yamlName(t.Field(i))
			switch name {
			case "":
			case "blocks":
				ta, tb := ka.Blocks.Table(), kb.Blocks.Table()
				if ta == tb {
					d.walk(path+".blocks", label+" blocks (same effects)", av.Field(i), bv.Field(i))
					continue
				}
				for x, act := range holdfast.Actions {
					if ta[x] != tb[x] {
						d.emit(OpChanged, path+".effects."+string(act), label+" effect on "+string(act), ta[x].String(), tb[x].String())
					}
				}
			default:
				d.walk(path+"."+name, label+" "+name, av.Field(i), bv.Field(i))
			}
		}
	}
}

// effectSummary describes an effect table: "denies a, b; reviews c".
func effectSummary(t holdfast.EffectTable) string {
	var deny, review []string
	for i, a := range holdfast.Actions {
		switch t[i] {
		case holdfast.Deny:
			deny = append(deny, string(a))
		case holdfast.Review:
			review = append(review, string(a))
		}
	}
	var parts []string
	if len(deny) > 0 {
		parts = append(parts, "denies "+strings.Join(deny, ", "))
	}
	if len(review) > 0 {
		parts = append(parts, "reviews "+strings.Join(review, ", "))
	}
	if len(parts) == 0 {
		return "blocks nothing"
	}
	return strings.Join(parts, "; ")
}

// ruleKey names a rule for matching: its id, with "#2", "#3" for repeats
// (which Validate refuses, but Diff does not require a valid policy).
func ruleKeys(rs []holdfast.Rule) []string {
	seen := map[string]int{}
	keys := make([]string, len(rs))
	for i, r := range rs {
		seen[r.ID]++
		keys[i] = r.ID
		if n := seen[r.ID]; n > 1 {
			keys[i] = fmt.Sprintf("%s#%d", r.ID, n)
		}
	}
	return keys
}

// rules compares rules by id: removed, added (with where), moved (a rule
// whose place among the rules both policies have changed; inserting or
// removing a rule moves nothing) and changed.
func (d *differ) rules(a, b []holdfast.Rule) {
	ka, kb := ruleKeys(a), ruleKeys(b)
	for i, k := range ka {
		if !slices.Contains(kb, k) {
			d.out = append(d.out, Change{Op: OpRemoved, Path: "rules[" + k + "]", Old: compact(a[i]),
				Text: fmt.Sprintf("rule %s: removed (was rules[%d]: %s)", k, i, describeRule(&a[i]))})
		}
	}
	// The rules both have, in each order; those off the longest common
	// order moved.
	var ca, cb []string
	for _, k := range ka {
		if slices.Contains(kb, k) {
			ca = append(ca, k)
		}
	}
	for _, k := range kb {
		if slices.Contains(ka, k) {
			cb = append(cb, k)
		}
	}
	stay := map[string]bool{}
	for _, p := range align(len(ca), len(cb), func(i, j int) bool { return ca[i] == cb[j] }) {
		if p.i >= 0 && p.j >= 0 && ca[p.i] == cb[p.j] {
			stay[ca[p.i]] = true
		}
	}
	for j, k := range kb {
		i := slices.Index(ka, k)
		path, label := "rules["+k+"]", "rule "+k+":"
		switch {
		case i < 0:
			d.out = append(d.out, Change{Op: OpAdded, Path: path, New: compact(b[j]),
				Text: fmt.Sprintf("rule %s: added at rules[%d]: %s", k, j, describeRule(&b[j]))})
			continue
		case !stay[k]:
			d.out = append(d.out, Change{Op: OpMoved, Path: path, Old: strconv.Itoa(i), New: strconv.Itoa(j),
				Text: fmt.Sprintf("rule %s: moved from rules[%d] to rules[%d]%s", k, i, j, neighbours(kb, j))})
		}
		d.rule(path, label, &a[i], &b[j])
	}
}

// neighbours says where a moved rule now is: " (after x, before y)".
func neighbours(keys []string, j int) string {
	var parts []string
	if j > 0 {
		parts = append(parts, "after "+keys[j-1])
	}
	if j+1 < len(keys) {
		parts = append(parts, "before "+keys[j+1])
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// rule compares one rule's fields; its then actions are lined up like any
// list and described as actions ("then apply reduce_only duration").
func (d *differ) rule(path, label string, a, b *holdfast.Rule) {
	av, bv := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := av.Type()
	for i := range t.NumField() {
		name := yamlName(t.Field(i))
		switch name {
		case "", "id":
		case "then":
			d.then(path+".then", label, a.Then, b.Then)
		default:
			d.walk(path+"."+name, label+" "+name, av.Field(i), bv.Field(i))
		}
	}
}

func (d *differ) then(path, label string, a, b []holdfast.RuleAction) {
	for _, p := range align(len(a), len(b), func(i, j int) bool { return reflect.DeepEqual(a[i], b[j]) }) {
		switch {
		case p.i < 0:
			d.out = append(d.out, Change{Op: OpAdded, Path: fmt.Sprintf("%s[%d]", path, p.j), New: describeAction(b[p.j]),
				Text: fmt.Sprintf("%s then added %s", label, describeAction(b[p.j]))})
		case p.j < 0:
			d.out = append(d.out, Change{Op: OpRemoved, Path: fmt.Sprintf("%s[%d]", path, p.i), Old: describeAction(a[p.i]),
				Text: fmt.Sprintf("%s then removed %s", label, describeAction(a[p.i]))})
		default:
			x, y := a[p.i], b[p.j]
			if reflect.DeepEqual(x, y) {
				continue
			}
			p := fmt.Sprintf("%s[%d]", path, p.j)
			if x.Apply != nil && y.Apply != nil && x.Apply.Kind == y.Apply.Kind && sameBut(x, y) {
				d.walk(p+".apply", label+" then apply "+string(x.Apply.Kind), reflect.ValueOf(*x.Apply), reflect.ValueOf(*y.Apply))
				continue
			}
			d.emit(OpChanged, p, label+" then", describeAction(x), describeAction(y))
		}
	}
}

// sameBut reports whether two actions differ only inside Apply.
func sameBut(x, y holdfast.RuleAction) bool {
	x.Apply, y.Apply = nil, nil
	return reflect.DeepEqual(x, y)
}

// describeAction writes a rule action as a policy file reads: "apply
// reduce_only duration 24h", "command notify_holder notice x".
func describeAction(a holdfast.RuleAction) string {
	var parts []string
	if ap := a.Apply; ap != nil {
		parts = append(parts, "apply "+string(ap.Kind))
		if ap.Duration != 0 {
			parts = append(parts, "duration "+ap.Duration.String())
		}
		if ap.Rolling {
			parts = append(parts, "rolling")
		}
		if ap.Delay != 0 {
			parts = append(parts, "delay "+ap.Delay.String())
		}
		if ap.Silent {
			parts = append(parts, "silent")
		}
	}
	if a.Lift != "" {
		parts = append(parts, "lift "+string(a.Lift))
	}
	if a.Tag != "" {
		parts = append(parts, "tag "+string(a.Tag))
	}
	if a.Command != "" {
		parts = append(parts, "command "+string(a.Command))
	}
	if a.Notice != "" {
		parts = append(parts, "notice "+a.Notice)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " ")
}

// describeRule is a one-line summary of a rule.
func describeRule(r *holdfast.Rule) string {
	var on []string
	for _, e := range r.On {
		on = append(on, string(e))
	}
	s := "on " + bracketed(on)
	if r.When != "" {
		s += " when " + strconv.Quote(r.When)
	}
	var then []string
	for _, a := range r.Then {
		then = append(then, describeAction(a))
	}
	return s + " then " + strings.Join(then, "; ")
}

// gateway compares the routes as the first-match list they are (route N
// is gateway.routes[N]) and the rest of the section field by field.
func (d *differ) gateway(a, b *holdfast.GatewayPolicy) {
	ra, rb := a.Routes, b.Routes
	for _, p := range align(len(ra), len(rb), func(i, j int) bool { return ra[i] == rb[j] }) {
		switch {
		case p.i < 0:
			d.out = append(d.out, Change{Op: OpAdded, Path: fmt.Sprintf("gateway.routes[%d]", p.j), New: describeRoute(rb[p.j]),
				Text: fmt.Sprintf("gateway route %d: added %s", p.j, describeRoute(rb[p.j]))})
		case p.j < 0:
			d.out = append(d.out, Change{Op: OpRemoved, Path: fmt.Sprintf("gateway.routes[%d]", p.i), Old: describeRoute(ra[p.i]),
				Text: fmt.Sprintf("gateway route %d: removed (was %s)", p.i, describeRoute(ra[p.i]))})
		case ra[p.i] != rb[p.j]:
			d.emit(OpChanged, fmt.Sprintf("gateway.routes[%d]", p.j), fmt.Sprintf("gateway route %d", p.j), describeRoute(ra[p.i]), describeRoute(rb[p.j]))
		}
	}
	av, bv := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := av.Type()
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" && name != "routes" {
			d.walk("gateway."+name, "gateway."+name, av.Field(i), bv.Field(i))
		}
	}
}

func describeRoute(r holdfast.GatewayRoute) string {
	return fmt.Sprintf("%s %s %s", show(r.Method), show(r.Path), show(string(r.Action)))
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

// isScalar reports whether values of t are written as one value.
func isScalar(t reflect.Type) bool {
	if t.Implements(textMarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// scalar writes a scalar as a policy file does: 24h, 100000, true.
func scalar(v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return fmt.Sprint(v.Interface())
		}
		return string(b)
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

// quote quotes free text (a condition, a message) in the text of a change,
// leaving names and numbers bare.
func quote(v reflect.Value, s string) string {
	if v.Kind() == reflect.String {
		return quoteText(s)
	}
	return s
}

func quoteText(s string) string {
	if strings.ContainsAny(s, " \t\n\",") {
		return strconv.Quote(s)
	}
	return s
}

func scalars(v reflect.Value) []string {
	out := make([]string, v.Len())
	for i := range out {
		out[i] = scalar(v.Index(i))
	}
	return out
}

// bracketed writes a list for people: [a, b, "free text"].
func bracketed(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = quoteText(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// jsonList is the machine form of a list: a JSON array of strings.
func jsonList(s []string) string {
	if s == nil {
		s = []string{}
	}
	return compact(s)
}

// value writes any value on one line: a scalar as itself, a list of
// scalars as [a, b], anything else as compact JSON.
func value(v reflect.Value) string {
	switch {
	case isScalar(v.Type()):
		return quote(v, scalar(v))
	case v.Kind() == reflect.Slice && isScalar(v.Type().Elem()):
		return jsonList(scalars(v))
	}
	return compact(v.Interface())
}

func compact(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
