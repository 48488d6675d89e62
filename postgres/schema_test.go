package postgres_test

import (
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/sqlite"
	"github.com/jackc/pgx/v5"
)

// The two dialects keep their own numbered migrations (the DDL differs),
// so TestSchemasMatch proves that, migrated to the top, they define the
// same tables (schema_migrations and store_identity included), columns
// (name, type class, NOT NULL, default, primary-key position, foreign
// key) and indexes (name, columns in order, uniqueness, partial or not).
// Not compared: CHECK constraints, predicates of partial indexes and
// collations (PostgreSQL keys are COLLATE "C" to sort as SQLite's BINARY),
// whose text differs by dialect. It lives here because this package may
// import sqlite; sqlite may not import postgres.

// column is a column as both dialects can describe it honestly.
type column struct {
	class   string // integer, text, real, blob, boolean
	notNull bool
	pk      int    // position in the primary key, 1-based; 0 if not in it
	ref     string // "table(column)" the column references; "" if none
	// dflt is the default as SQL text without PostgreSQL's casts, or
	// "<auto>" for a column the database numbers itself (SQLite's INTEGER
	// PRIMARY KEY AUTOINCREMENT, PostgreSQL's identity columns).
	dflt string
}

// index is an index as both dialects can describe it: explicit indexes by
// their name, indexes behind a UNIQUE constraint by their columns (each
// dialect names those its own way).
type index struct {
	columns []string // "<expr>" for an expression
	unique  bool
	partial bool
}

func (i index) String() string {
	s := "(" + strings.Join(i.columns, ", ") + ")"
	if i.unique {
		s = "UNIQUE " + s
	}
	if i.partial {
		s += " WHERE …"
	}
	return s
}

type table struct {
	columns map[string]column
	indexes map[string]index
}

type schema map[string]*table

// sqliteClass maps a STRICT table's declared type to a class. SQLite has
// no BOOLEAN: the SQLite store keeps booleans as 0/1 INTEGER (see
// sqlite/migrations/001_init.sql), so a PostgreSQL boolean matches an
// SQLite integer (see sameClass).
func sqliteClass(t string) string {
	switch strings.ToUpper(t) {
	case "INTEGER", "INT":
		return "integer"
	case "TEXT":
		return "text"
	case "REAL":
		return "real"
	case "BLOB":
		return "blob"
	}
	return "unknown SQLite type " + t
}

func postgresClass(t string) string {
	switch t {
	case "bigint", "integer", "smallint":
		return "integer"
	case "text", "character varying", "character":
		return "text"
	case "double precision", "real":
		return "real"
	case "bytea":
		return "blob"
	case "boolean":
		return "boolean"
	}
	return "unknown PostgreSQL type " + t
}

// sameClass reports whether an SQLite column's class matches a PostgreSQL
// one's. The one deliberate difference: booleans (BOOLEAN in PostgreSQL,
// 0/1 INTEGER in SQLite, which has no boolean type).
func sameClass(lite, pg string) bool {
	return lite == pg || lite == "integer" && pg == "boolean"
}

func readSQLite(t *testing.T) schema {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	conn, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	strings1 := func(q string, args ...any) []string {
		t.Helper()
		rows, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}

	s := schema{}
	for _, name := range strings1(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`) {
		tb := &table{columns: map[string]column{}, indexes: map[string]index{}}
		s[name] = tb
		// Only an INTEGER PRIMARY KEY may be AUTOINCREMENT, so the word in
		// the table's SQL names that column.
		auto := len(strings1(`SELECT name FROM sqlite_schema WHERE name = ? AND sql LIKE '%AUTOINCREMENT%'`, name)) > 0
		rows, err := conn.QueryContext(ctx, `SELECT name, type, "notnull", coalesce(dflt_value, ''), pk FROM pragma_table_info(?)`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var col, typ, dflt string
			var notNull bool
			var pk int
			if err := rows.Scan(&col, &typ, &notNull, &dflt, &pk); err != nil {
				t.Fatal(err)
			}
			if auto && pk == 1 && strings.EqualFold(typ, "INTEGER") {
				dflt = "<auto>"
			}
			// A STRICT table's primary-key columns are NOT NULL whether
			// declared so or not (table_info shows only the declaration).
			tb.columns[col] = column{class: sqliteClass(typ), notNull: notNull || pk > 0, pk: pk, dflt: dflt}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}

		rows, err = conn.QueryContext(ctx, `SELECT "from", "table", "to" FROM pragma_foreign_key_list(?)`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var from, to, toCol string
			if err := rows.Scan(&from, &to, &toCol); err != nil {
				t.Fatal(err)
			}
			c := tb.columns[from]
			c.ref = to + "(" + toCol + ")"
			tb.columns[from] = c
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}

		type listed struct {
			name, origin    string
			unique, partial bool
		}
		var idx []listed
		rows, err = conn.QueryContext(ctx, `SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var l listed
			if err := rows.Scan(&l.name, &l.unique, &l.origin, &l.partial); err != nil {
				t.Fatal(err)
			}
			idx = append(idx, l)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		for _, l := range idx {
			if l.origin == "pk" {
				continue // the primary key is compared through the columns
			}
			rows, err := conn.QueryContext(ctx, `SELECT coalesce(name, '<expr>') FROM pragma_index_info(?) ORDER BY seqno`, l.name)
			if err != nil {
				t.Fatal(err)
			}
			var cols []string
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					t.Fatal(err)
				}
				cols = append(cols, c)
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
			key := l.name
			if l.origin == "u" {
				key = "UNIQUE constraint (" + strings.Join(cols, ", ") + ")"
			}
			tb.indexes[key] = index{columns: cols, unique: l.unique, partial: l.partial}
		}
	}
	return s
}

// pgCast matches the casts PostgreSQL adds to a default ('x'::text).
var pgCast = regexp.MustCompile(`::[a-z ]+$`)

func readPostgres(t *testing.T) schema {
	t.Helper()
	ctx := t.Context()
	name := schemaName(t.Name())
	db := open(t, newSchema(t, name))
	db.Close()
	conn, err := pgx.Connect(ctx, serverDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	s := schema{}
	rows, err := conn.Query(ctx, `
		SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO',
		       CASE WHEN c.is_identity = 'YES' OR c.column_default LIKE 'nextval(%' THEN '<auto>'
		            ELSE coalesce(c.column_default, '') END,
		       coalesce((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)
		                 WHERE k.attnum = a.attnum), 0)
		FROM information_schema.columns c
		JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass
		                   AND a.attname = c.column_name
		LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
		WHERE c.table_schema = $1`, name)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, col, typ, dflt string
		var notNull bool
		var pk int
		if err := rows.Scan(&tbl, &col, &typ, &notNull, &dflt, &pk); err != nil {
			t.Fatal(err)
		}
		if s[tbl] == nil {
			s[tbl] = &table{columns: map[string]column{}, indexes: map[string]index{}}
		}
		s[tbl].columns[col] = column{class: postgresClass(typ), notNull: notNull, pk: pk, dflt: pgCast.ReplaceAllString(dflt, "")}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	rows, err = conn.Query(ctx, `
		SELECT t.relname, a.attname, rt.relname, ra.attname
		FROM pg_constraint con
		JOIN pg_class t ON t.oid = con.conrelid
		JOIN pg_namespace ns ON ns.oid = t.relnamespace
		JOIN pg_class rt ON rt.oid = con.confrelid
		CROSS JOIN unnest(con.conkey, con.confkey) k(col, refcol)
		JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.col
		JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refcol
		WHERE ns.nspname = $1 AND con.contype = 'f'`, name)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, col, to, toCol string
		if err := rows.Scan(&tbl, &col, &to, &toCol); err != nil {
			t.Fatal(err)
		}
		c := s[tbl].columns[col]
		c.ref = to + "(" + toCol + ")"
		s[tbl].columns[col] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// Every index but the primary key's; an index behind a UNIQUE
	// constraint is keyed by its columns, as in readSQLite.
	rows, err = conn.Query(ctx, `
		SELECT t.relname, x.relname, i.indisunique, i.indpred IS NOT NULL,
		       con.oid IS NOT NULL,
		       array(SELECT coalesce(a.attname, '<expr>')
		             FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)
		             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum > 0
		             ORDER BY k.n)
		FROM pg_index i
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_class x ON x.oid = i.indexrelid
		JOIN pg_namespace ns ON ns.oid = t.relnamespace
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'u'
		WHERE ns.nspname = $1 AND NOT i.indisprimary`, name)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, idx string
		var ix index
		var constraint bool
		if err := rows.Scan(&tbl, &idx, &ix.unique, &ix.partial, &constraint, &ix.columns); err != nil {
			t.Fatal(err)
		}
		if constraint {
			idx = "UNIQUE constraint (" + strings.Join(ix.columns, ", ") + ")"
		}
		if s[tbl] == nil {
			t.Fatalf("index %s on unknown table %s", idx, tbl)
		}
		s[tbl].indexes[idx] = ix
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// diffSchemas lists every difference between the SQLite and the PostgreSQL
// schema, one line each, sorted.
func diffSchemas(lite, pg schema) []string {
	var diff []string
	add := func(format string, args ...any) { diff = append(diff, fmt.Sprintf(format, args...)) }
	for name, lt := range lite {
		pt, ok := pg[name]
		if !ok {
			add("table %s: only in sqlite", name)
			continue
		}
		for col, lc := range lt.columns {
			pc, ok := pt.columns[col]
			switch {
			case !ok:
				add("table %s: column %s only in sqlite", name, col)
				continue
			case !sameClass(lc.class, pc.class):
				add("table %s: column %s is %s in sqlite, %s in postgres", name, col, lc.class, pc.class)
			}
			if lc.notNull != pc.notNull {
				add("table %s: column %s NOT NULL: sqlite %t, postgres %t", name, col, lc.notNull, pc.notNull)
			}
			if lc.dflt != pc.dflt {
				add("table %s: column %s defaults to %q in sqlite, %q in postgres", name, col, lc.dflt, pc.dflt)
			}
			if lc.ref != pc.ref {
				add("table %s: column %s references %q in sqlite, %q in postgres", name, col, lc.ref, pc.ref)
			}
			if lc.pk != pc.pk {
				add("table %s: column %s primary-key position: sqlite %d, postgres %d", name, col, lc.pk, pc.pk)
			}
		}
		for col := range pt.columns {
			if _, ok := lt.columns[col]; !ok {
				add("table %s: column %s only in postgres", name, col)
			}
		}
		for idx, li := range lt.indexes {
			pi, ok := pt.indexes[idx]
			switch {
			case !ok:
				add("table %s: index %s %s only in sqlite", name, idx, li)
			case li.String() != pi.String():
				add("table %s: index %s is %s in sqlite, %s in postgres", name, idx, li, pi)
			}
		}
		for idx, pi := range pt.indexes {
			if _, ok := lt.indexes[idx]; !ok {
				add("table %s: index %s %s only in postgres", name, idx, pi)
			}
		}
	}
	for name := range pg {
		if _, ok := lite[name]; !ok {
			add("table %s: only in postgres", name)
		}
	}
	slices.Sort(diff)
	return diff
}

func TestSchemasMatch(t *testing.T) {
	serverDSN(t)
	lite, pg := readSQLite(t), readPostgres(t)
	if len(lite) == 0 || len(pg) == 0 {
		t.Fatalf("read %d SQLite tables and %d PostgreSQL tables", len(lite), len(pg))
	}
	if diff := diffSchemas(lite, pg); len(diff) > 0 {
		t.Errorf("the SQLite and PostgreSQL migrations define different schemas (%d differences):\n%s",
			len(diff), strings.Join(diff, "\n"))
	}
	var cols, idx, refs, dflts int
	for _, tb := range lite {
		cols += len(tb.columns)
		idx += len(tb.indexes)
		for _, c := range tb.columns {
			if c.ref != "" {
				refs++
			}
			if c.dflt != "" {
				dflts++
			}
		}
	}
	t.Logf("compared %d tables, %d columns (%d foreign keys, %d defaults), %d indexes besides primary keys",
		len(lite), cols, refs, dflts, idx)
	for _, s := range []schema{lite, pg} {
		for name, tb := range s {
			for col, c := range tb.columns {
				if strings.HasPrefix(c.class, "unknown") {
					t.Errorf("table %s: column %s: %s: map it to a class", name, col, c.class)
				}
			}
		}
	}
}

// TestSchemaDiff checks that diffSchemas notices each kind of difference,
// so that TestSchemasMatch passing means something.
func TestSchemaDiff(t *testing.T) {
	base := func() schema {
		return schema{"a": {
			columns: map[string]column{
				"id":   {class: "text", notNull: true, pk: 1},
				"flag": {class: "integer", notNull: true},
			},
			indexes: map[string]index{"a_flag": {columns: []string{"flag", "id"}}},
		}}
	}
	pgFlag := base()
	pgFlag["a"].columns["flag"] = column{class: "boolean", notNull: true}
	if d := diffSchemas(base(), pgFlag); len(d) != 0 {
		t.Errorf("boolean as 0/1 integer reported: %v", d)
	}
	for _, tc := range []struct {
		name   string
		change func(schema)
		want   string
	}{
		{"table", func(s schema) { s["b"] = &table{} }, "table b: only in postgres"},
		{"column", func(s schema) { s["a"].columns["x"] = column{class: "text"} }, "table a: column x only in postgres"},
		{"type", func(s schema) { s["a"].columns["id"] = column{class: "integer", notNull: true, pk: 1} }, "table a: column id is text in sqlite, integer in postgres"},
		{"null", func(s schema) { s["a"].columns["flag"] = column{class: "integer"} }, "table a: column flag NOT NULL: sqlite true, postgres false"},
		{"pk", func(s schema) { s["a"].columns["flag"] = column{class: "integer", notNull: true, pk: 2} }, "table a: column flag primary-key position: sqlite 0, postgres 2"},
		{"fk", func(s schema) { s["a"].columns["flag"] = column{class: "integer", notNull: true, ref: "b(id)"} }, `table a: column flag references "" in sqlite, "b(id)" in postgres`},
		{"default", func(s schema) { s["a"].columns["flag"] = column{class: "integer", notNull: true, dflt: "0"} }, `table a: column flag defaults to "" in sqlite, "0" in postgres`},
		{"index", func(s schema) { delete(s["a"].indexes, "a_flag") }, "table a: index a_flag (flag, id) only in sqlite"},
		{"order", func(s schema) { s["a"].indexes["a_flag"] = index{columns: []string{"id", "flag"}} }, "table a: index a_flag is (flag, id) in sqlite, (id, flag) in postgres"},
		{"unique", func(s schema) { s["a"].indexes["a_flag"] = index{columns: []string{"flag", "id"}, unique: true} }, "table a: index a_flag is (flag, id) in sqlite, UNIQUE (flag, id) in postgres"},
	} {
		pg := base()
		tc.change(pg)
		if d := diffSchemas(base(), pg); len(d) != 1 || d[0] != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, d, tc.want)
		}
	}
}
