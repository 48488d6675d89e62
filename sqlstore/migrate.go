package sqlstore

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Migration is one numbered SQL file of a dialect's schema. Each dialect
// keeps its own numbered list, since the DDL differs; a test in package
// postgres proves both lists define the same tables, columns and indexes.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads the NNN_description.sql files of fsys's folder dir in
// version order.
func Migrations(d Dialect, fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: migrations: %w", d.Name, err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("%s: migration %s: name must be NNN_description.sql", d.Name, name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("%s: migration %s: %w", d.Name, name, err)
		}
		out = append(out, Migration{v, name, string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("%s: migrations %s and %s share a number", d.Name, out[i-1].Name, out[i].Name)
		}
	}
	return out, nil
}

// Apply runs, through exec on the caller's transaction, every migration
// of ms that a database at version have lacks, in order, and records each
// in schema_migrations. A database newer than ms is an error: this binary
// would not know its tables. exec gets the migration's DDL alone, and a
// statement with ? placeholders for the record.
func Apply(d Dialect, ms []Migration, have int, exec func(query string, args ...any) error) error {
	if len(ms) > 0 && have > ms[len(ms)-1].Version {
		return fmt.Errorf("%s: database schema version %d is newer than this binary's %d", d.Name, have, ms[len(ms)-1].Version)
	}
	for _, m := range ms {
		if m.Version <= have {
			continue
		}
		if err := exec(m.SQL); err != nil {
			return fmt.Errorf("%s: migration %s: %w", d.Name, m.Name, err)
		}
		if err := exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("%s: migration %s: %w", d.Name, m.Name, err)
		}
	}
	return nil
}
