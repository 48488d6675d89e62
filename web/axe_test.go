package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast/internal/servicetest"
)

// axeSource is axe-core's browser bundle, pinned in testdata/axe and
// installed there by `npm ci --prefix web/testdata/axe`.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		servicetest.Missing(t, "axe-core not installed (npm ci --prefix web/testdata/axe): %v", err)
	}
	return string(b)
}

// axeViolation is one of axe's failed rules with the elements it failed on.
type axeViolation struct {
	ID, Impact, Help string
	Nodes            []struct {
		Target         []any
		FailureSummary string
	}
}

func (v axeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n      at %v: %s", n.Target, strings.ReplaceAll(n.FailureSummary, "\n", " "))
	}
	return b.String()
}

// runAxe checks the current page with axe's default rules (WCAG 2.x A
// and AA and best practices) and returns its critical and serious
// violations. The page's Content-Security-Policy does not apply to a
// script the browser's debugging protocol evaluates, so axe runs on the
// page exactly as served.
func (s *site) runAxe(src string) []axeViolation {
	s.t.Helper()
	if _, err := chromedp.Run(s.browser, chromedp.Evaluate[chromedp.Void](src)); err != nil {
		s.t.Fatalf("loading axe-core: %v", err)
	}
	all, err := chromedp.Run(s.browser, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		s.t.Fatalf("running axe-core: %v", err)
	}
	var bad []axeViolation
	for _, v := range all {
		if v.Impact == "critical" || v.Impact == "serious" {
			bad = append(bad, v)
		}
	}
	return bad
}

// TestEveryPageAccessible: axe-core finds no critical or serious
// accessibility failure (contrast, names and labels, landmarks, tables)
// on any page of either site, on a laptop's screen or a phone's.
func TestEveryPageAccessible(t *testing.T) {
	src := axeSource(t)
	// A site for each width: each has its own minute in the browser.
	for _, size := range [][2]int64{{desktopW, desktopH}, {phoneW, phoneH}} {
		t.Run(fmt.Sprint(size[0]), func(t *testing.T) {
			f := newFixture(t)
			f.signInBoth()
			f.resize(size[0], size[1])
			for _, p := range everyPage {
				f.visit(p.path, p.ready)
				for _, v := range f.runAxe(src) {
					t.Errorf("%s at %d px: %s", p.path, size[0], v)
				}
			}
			// The check can fail: a field whose label is taken away is
			// reported.
			f.visit("/console/", "#account")
			f.run(chromedp.Evaluate[chromedp.Void](`document.querySelector('label[for="account"]').remove()`))
			var ids []string
			for _, v := range f.runAxe(src) {
				ids = append(ids, v.ID)
			}
			if !slices.Contains(ids, "label") {
				t.Errorf("axe did not report a field without a label: %v", ids)
			}
		})
	}
}
