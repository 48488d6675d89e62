package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast"
)

// The two screens every page is drawn for: a phone (390×844, an iPhone
// 12 to 15) and a common laptop (1366×768).
const (
	phoneW, phoneH     = 390, 844
	desktopW, desktopH = 1366, 768
)

// resize sets the browser's viewport.
func (s *site) resize(w, h int64) {
	s.t.Helper()
	s.run(chromedp.EmulateViewport(w, h))
}

// overflow is how far a page reaches sideways: the document's scroll
// width against the viewport's, the outermost elements that stick out,
// and the boxes whose content scrolls sideways inside them (a table in
// such a box hides its last columns).
type overflow struct {
	ScrollWidth, InnerWidth int
	Wide, Boxed             []string
}

const measureOverflow = `(() => {
  const w = window.innerWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const out = el => el.getBoundingClientRect().right > w + 0.5;
  const wide = [], boxed = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (out(el) && !(el.parentElement && el.parentElement !== document.body && out(el.parentElement))) {
      wide.push(name(el) + " reaches " + Math.round(el.getBoundingClientRect().right) + "px");
    }
    const ox = getComputedStyle(el).overflowX;
    if ((ox === "auto" || ox === "scroll") && el.scrollWidth > el.clientWidth + 1) {
      boxed.push(name(el.firstElementChild || el) + " is " + el.scrollWidth + "px in a " + el.clientWidth + "px box");
    }
  }
  return {ScrollWidth: document.documentElement.scrollWidth, InnerWidth: w, Wide: wide.slice(0, 5), Boxed: boxed};
})()`

func (s *site) overflow() overflow {
	s.t.Helper()
	o, err := chromedp.Run(s.browser, chromedp.Evaluate[overflow](measureOverflow))
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

// TestEveryPageFitsAPhone: at 390 px, as on a tablet and a laptop, no
// page of either site scrolls sideways, nor does any table inside its
// box: tables stack their cells, long identifiers wrap, forms fit.
func TestEveryPageFitsAPhone(t *testing.T) {
	for _, size := range [][2]int64{{phoneW, phoneH}, {768, 1024}, {desktopW, desktopH}} {
		w := int(size[0])
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			f := newFixture(t)
			f.signInBoth()
			f.resize(size[0], size[1])
			for _, p := range everyPage {
				f.visit(p.path, p.ready)
				o := f.overflow()
				if o.InnerWidth != w {
					t.Fatalf("%s: the viewport is %d px wide, want %d", p.path, o.InnerWidth, w)
				}
				if o.ScrollWidth > o.InnerWidth {
					t.Errorf("%s scrolls sideways at %d px: the page is %d px wide (%s)", p.path, w, o.ScrollWidth, strings.Join(o.Wide, "; "))
				}
				if len(o.Boxed) > 0 {
					t.Errorf("%s at %d px: %s", p.path, w, strings.Join(o.Boxed, "; "))
				}
				f.firstScreen(p.shot, w)
			}
		})
	}
}

// TestHolderStatusFirstOnAPhone: on a phone, a restricted holder's first
// screen shows what is blocked and until when before anything else: the
// status is the page's first section, and its first restriction's name,
// blocks and end are above the fold, for the fixture's holder (five
// restrictions) and for one whose only restriction is a panic lock.
func TestHolderStatusFirstOnAPhone(t *testing.T) {
	f := newFixture(t)
	const locked = "u-panic"
	if _, err := f.eng.PanicLock(context.Background(), locked, holdfast.Duration(72*time.Hour), holdfast.User(locked)); err != nil {
		t.Fatal(err)
	}
	f.resize(phoneW, phoneH)
	for _, acct := range []string{fixtureAccount, locked} {
		f.signIn(acct)
		f.visit("/me/", "#causes")
		first, err := chromedp.Run(f.browser, chromedp.Evaluate[string](`document.querySelector("main section").getAttribute("aria-labelledby")`))
		if err != nil {
			t.Fatal(err)
		}
		if first != "status" {
			t.Errorf("%s: the home's first section is %q, want the status", acct, first)
		}
		want := []string{"#causes > .cause:first-child .kind", "#causes > .cause:first-child .blocks"}
		if acct == locked {
			want = append(want, "#causes > .cause:first-child .ends")
		}
		for _, sel := range want {
			if b := f.bottom(sel); b > phoneH {
				t.Errorf("%s: %s ends %d px down a %d px screen: below the fold", acct, sel, b, phoneH)
			}
		}
	}
}

// bottom is how far down the page the last element matching sel ends, in
// CSS pixels.
func (s *site) bottom(sel string) int {
	s.t.Helper()
	b, err := chromedp.Run(s.browser, chromedp.Evaluate[float64](fmt.Sprintf(`Math.max(...Array.from(document.querySelectorAll(%q), el => el.getBoundingClientRect().bottom + window.scrollY))`, sel)))
	if err != nil || b < 0 {
		s.t.Fatalf("%s: %v (no such element?)", sel, err)
	}
	return int(b + 0.5)
}

// consoleControls are the Console's buttons and fields that act on a row:
// they must be on screen, not cut off by the table's box, at every width.
var consoleControls = []struct{ path, sel string }{
	{"/console/account?id=" + fixtureAccount, ".lift input[name=reason], .lift button, .extend input:not([type=hidden]), .extend button"},
	{"/console/approvals", ".approve button"},
	{"/console/outbox", ".redrive button"},
}

// TestConsoleControlsInView: at 1366 px and at 390 px, every Lift,
// Extend, Approve and Redrive control (and its fields) lies inside the
// viewport's width and is the element a click at its centre reaches.
func TestConsoleControlsInView(t *testing.T) {
	f := newFixture(t)
	f.consoleSignIn(f.staff)
	for _, size := range [][2]int64{{desktopW, desktopH}, {phoneW, phoneH}} {
		f.resize(size[0], size[1])
		for _, c := range consoleControls {
			f.visit(c.path, c.sel)
			hidden, err := chromedp.Run(f.browser, chromedp.Evaluate[[]string](fmt.Sprintf(controlsInView, c.sel)))
			if err != nil {
				t.Fatal(err)
			}
			if len(hidden) > 0 {
				t.Errorf("%s at %d px: controls cut off or out of view: %s", c.path, size[0], strings.Join(hidden, "; "))
			}
		}
	}
}

// controlsInView scrolls each control matching %q into view (vertically:
// the page must not need sideways scrolling) and lists those that are not
// wholly inside the viewport's width or that a click at their centre
// would miss (something clips or covers them).
const controlsInView = `(() => {
  const bad = [];
  const els = document.querySelectorAll(%q);
  if (els.length === 0) return ["no control matches"];
  for (const el of els) {
    window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - window.innerHeight / 2);
    const r = el.getBoundingClientRect();
    const name = el.tagName.toLowerCase() + (el.name ? "[name=" + el.name + "]" : "") + " in " + (el.closest("tr") ? el.closest("tr").id : "?");
    if (r.width === 0 || r.height === 0) { bad.push(name + " has no size"); continue; }
    if (r.left < 0 || r.right > document.documentElement.clientWidth) { bad.push(name + " spans " + Math.round(r.left) + "–" + Math.round(r.right) + "px"); continue; }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || (hit !== el && !el.contains(hit))) bad.push(name + " is covered or clipped");
  }
  return bad;
})()`

// firstScreen saves what the viewport shows as docs/screenshots/NAME-WIDTH.png
// when HOLDFAST_SCREENSHOTS is set and the page has a name, at the phone's
// and the laptop's widths (the committed ones are made that way).
func (s *site) firstScreen(name string, width int) {
	s.t.Helper()
	if name == "" || (width != phoneW && width != desktopW) || os.Getenv("HOLDFAST_SCREENSHOTS") == "" {
		return
	}
	s.run(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	png, err := chromedp.Run(s.browser, chromedp.CaptureScreenshot())
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", fmt.Sprintf("%s-%d.png", name, width)), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}
