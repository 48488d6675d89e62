package holdfast_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The repository stands on its own: a user who clones it has only what is
// in it, so no file may point to a folder beside the checkout, and every
// relative link in the Markdown documents must reach a file (and heading)
// that exists.

var (
	markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	outsidePath  = regexp.MustCompile(`\.\./shared\b|\bshared/(DESIGN|STYLE|scenario-format|dependencies)`)
)

func TestRepositoryStandsAlone(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !isText(path) {
			return nil
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(body), "\n") {
			if outsidePath.MatchString(line) && path != "docs_test.go" {
				t.Errorf("%s:%d points outside the repository: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		if strings.HasSuffix(path, ".md") {
			checkLinks(t, path, string(body))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func isText(path string) bool {
	switch filepath.Ext(path) {
	case ".go", ".md", ".proto", ".yaml", ".yml", ".sql", ".html", ".js", ".css", ".txt", ".sh":
		return true
	}
	return filepath.Base(path) == "Makefile" || strings.HasPrefix(path, ".ci")
}

func checkLinks(t *testing.T, path, body string) {
	t.Helper()
	for _, m := range markdownLink.FindAllStringSubmatch(body, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		resolved := path
		if file != "" {
			resolved = filepath.Join(filepath.Dir(path), file)
			if _, err := os.Stat(resolved); err != nil {
				t.Errorf("%s: link %q: no such file %s", path, target, resolved)
				continue
			}
		}
		if anchor != "" && strings.HasSuffix(resolved, ".md") && !hasHeading(t, resolved, anchor) {
			t.Errorf("%s: link %q: %s has no heading #%s", path, target, resolved, anchor)
		}
	}
}

// hasHeading reports whether a Markdown file has a heading whose GitHub
// anchor is anchor.
func hasHeading(t *testing.T, path, anchor string) bool {
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "#") && slug(strings.TrimLeft(line, "# ")) == anchor {
			return true
		}
	}
	return false
}

func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
