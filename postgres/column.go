package postgres

import (
	"encoding/json"
	"time"

	"github.com/holdfast/holdfast/internal/column"
)

// Column adapters, as in package sqlite: each wraps a pointer to a domain
// field and is both the argument that writes it (pgx encodes a
// driver.Valuer) and the destination that reads it back (pgx decodes into
// an sql.Scanner), so one column list serves INSERT and SELECT alike, and
// values are stored exactly as SQLite stores them.

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// Column adapters of internal/column, shared with the other store.
func nanos(t *time.Time) column.Nanos           { return column.Nanos{T: t} }
func nanosArg(t time.Time) column.Nanos         { return column.NanosArg(t) }
func list[T any](v *[]T) column.JSONList[T]     { return column.List(v) }
func rawJSON(b *json.RawMessage) column.RawJSON { return column.RawJSON{B: b} }
