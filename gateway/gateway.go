// Package gateway maps an HTTP request onto the action it performs, by the
// route table of the policy's `gateway` section, so that a gateway in
// front of an exchange can ask Holdfast "may this account do this now?"
// before forwarding the request. Routes are compiled once; matching
// walks path segments with no regular expression and, for a clean path,
// no allocation.
package gateway

import (
	"fmt"
	"slices"
	"strings"

	"github.com/holdfast/holdfast"
)

// Methods are the methods a route may name besides "*".
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// Route is a matched route: its index in the policy's list and the route.
type Route struct {
	Index int
	holdfast.GatewayRoute
}

type compiled struct {
	route   Route
	method  string // "" for any
	pattern pattern
}

// Table is a compiled route table; safe for concurrent use.
type Table struct {
	routes   []compiled
	unmapped holdfast.GatewayUnmapped
}

// CheckRoute reports what is wrong with a route's method and path, for
// the policy's validation; field is "method" or "path".
func CheckRoute(r holdfast.GatewayRoute) (field string, err error) {
	if r.Method != "*" && !slices.Contains(Methods, r.Method) {
		return "method", fmt.Errorf("unknown method %q (want *, or one of %s, in capitals)", r.Method, strings.Join(Methods, ", "))
	}
	if _, err := parsePattern(r.Path); err != nil {
		return "path", err
	}
	return "", nil
}

// Compile builds the table of g. Its error names the first bad route;
// a policy that validated has none.
func Compile(g holdfast.GatewayPolicy) (*Table, error) {
	t := &Table{unmapped: g.Unmapped}
	for i, r := range g.Routes {
		if field, err := CheckRoute(r); err != nil {
			return nil, fmt.Errorf("gateway.routes[%d].%s: %w", i, field, err)
		}
		if !r.Action.Valid() {
			return nil, fmt.Errorf("gateway.routes[%d].action: unknown action %q", i, r.Action)
		}
		pt, _ := parsePattern(r.Path)
		m := r.Method
		if m == "*" {
			m = ""
		}
		t.routes = append(t.routes, compiled{route: Route{Index: i, GatewayRoute: r}, method: m, pattern: pt})
	}
	return t, nil
}

// Match returns the first route matching method and the request path as
// sent (see Clean), and its action. ok is false when no route matches or
// the path is refused; Decide tells the two apart. The method is compared
// ignoring case, so that "post" cannot slip past a POST route.
func (t *Table) Match(method, rawPath string) (r Route, a holdfast.Action, ok bool) {
	p, err := Clean(rawPath)
	if err != nil {
		return Route{Index: -1}, "", false
	}
	return t.match(method, p)
}

func (t *Table) match(method, p string) (Route, holdfast.Action, bool) {
	for i := range t.routes {
		c := &t.routes[i]
		if c.method != "" && c.method != method && !strings.EqualFold(c.method, method) {
			continue
		}
		if c.pattern.match(p) {
			return c.route, c.route.Action, true
		}
	}
	return Route{Index: -1}, "", false
}

// Decision is the full answer for a request.
type Decision struct {
	// Path is the cleaned path matched against; empty when refused.
	Path string
	// Mapped: Route matched, and the account must be allowed Action.
	Mapped bool
	Route  Route
	Action holdfast.Action
	// Refused: the path was not matched at all, for this reason; the
	// request is denied whatever its method (decision 129).
	Refused error
	// Verdict is, for an unmapped or refused request, allow or deny.
	Verdict holdfast.GatewayVerdict
}

// Decide maps a request: to a route and action, to the unmapped verdict
// for its method, or to a refusal of its path.
func (t *Table) Decide(method, rawPath string) Decision {
	p, err := Clean(rawPath)
	if err != nil {
		return Decision{Refused: err, Verdict: holdfast.GatewayDeny, Route: Route{Index: -1}}
	}
	r, a, ok := t.match(method, p)
	if ok {
		return Decision{Path: p, Mapped: true, Route: r, Action: a}
	}
	return Decision{Path: p, Route: r, Verdict: t.unmapped.For(method)}
}
