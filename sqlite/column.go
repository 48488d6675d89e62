package sqlite

import (
	"encoding/json"
	"time"

	"github.com/holdfast/holdfast/internal/column"
)

// Column adapters: each wraps a pointer to a domain field and is both the
// argument that writes it and the destination that reads it back, so one
// column list serves INSERT and SELECT alike.

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// Column adapters of internal/column, shared with the other store.
func nanos(t *time.Time) column.Nanos           { return column.Nanos{T: t} }
func nanosArg(t time.Time) column.Nanos         { return column.NanosArg(t) }
func list[T any](v *[]T) column.JSONList[T]     { return column.List(v) }
func rawJSON(b *json.RawMessage) column.RawJSON { return column.RawJSON{B: b} }
