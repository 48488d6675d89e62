// Package column holds the SQL column adapters both stores use: each wraps
// a pointer to a domain field and is both the argument that writes it (a
// driver.Valuer) and the destination that reads it back (an sql.Scanner,
// which pgx honours too), so one column list serves INSERT and SELECT
// alike, and SQLite and PostgreSQL store the same values the same way.
package column

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// The instants an int64 of Unix nanoseconds can hold.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// Nanos stores a time as integer Unix nanoseconds, which round-trips every
// instant exactly and compares in SQL; the zero time is NULL. Times read
// back are in UTC.
type Nanos struct{ T *time.Time }

func (n Nanos) Value() (driver.Value, error) {
	t := *n.T
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("time %s is outside the storable range (years 1678-2262)", t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func (n Nanos) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n.T = time.Time{}
	case int64:
		*n.T = time.Unix(0, v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want an integer", src)
	}
	return nil
}

// NanosArg is the SQL argument for t.
func NanosArg(t time.Time) Nanos { return Nanos{&t} }

// JSONList stores a slice as JSON TEXT; a nil slice is NULL so that nil and
// empty survive the round trip as they were.
type JSONList[T any] struct{ V *[]T }

func (j JSONList[T]) Value() (driver.Value, error) {
	if *j.V == nil {
		return nil, nil
	}
	b, err := json.Marshal(*j.V)
	return string(b), err
}

func (j JSONList[T]) Scan(src any) error {
	*j.V = nil
	b, null, err := text(src)
	if null || err != nil {
		return err
	}
	return json.Unmarshal(b, j.V)
}

// text reads a TEXT column's bytes, or says it is NULL; anything else is
// an error.
func text(src any) (b []byte, null bool, err error) {
	switch v := src.(type) {
	case nil:
		return nil, true, nil
	case string:
		return []byte(v), false, nil
	case []byte:
		return v, false, nil
	}
	return nil, false, fmt.Errorf("JSON column holds %T, want TEXT", src)
}

// List wraps a slice field.
func List[T any](v *[]T) JSONList[T] { return JSONList[T]{v} }

// RawJSON stores audit JSON byte for byte (the hash covers those bytes);
// empty is NULL.
type RawJSON struct{ B *json.RawMessage }

func (r RawJSON) Value() (driver.Value, error) {
	if len(*r.B) == 0 {
		return nil, nil
	}
	return string(*r.B), nil
}

func (r RawJSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*r.B = nil
	case string:
		*r.B = json.RawMessage(v)
	case []byte:
		*r.B = bytes.Clone(v)
	default:
		return fmt.Errorf("JSON column holds %T, want TEXT", src)
	}
	return nil
}

// JSONValue stores a struct as JSON TEXT; NULL reads back as the zero value.
type JSONValue[T any] struct{ V *T }

func (j JSONValue[T]) Value() (driver.Value, error) {
	b, err := json.Marshal(j.V)
	return string(b), err
}

func (j JSONValue[T]) Scan(src any) error {
	var zero T
	*j.V = zero
	b, null, err := text(src)
	if null || err != nil {
		return err
	}
	return json.Unmarshal(b, j.V)
}

// JSONPtr stores an optional struct as JSON TEXT, nil as NULL.
type JSONPtr[T any] struct{ V **T }

func (j JSONPtr[T]) Value() (driver.Value, error) {
	if *j.V == nil {
		return nil, nil
	}
	b, err := json.Marshal(*j.V)
	return string(b), err
}

func (j JSONPtr[T]) Scan(src any) error {
	*j.V = nil
	b, null, err := text(src)
	if null || err != nil {
		return err
	}
	*j.V = new(T)
	return json.Unmarshal(b, *j.V)
}

// JSONMap stores a string map as JSON TEXT, empty as NULL.
type JSONMap struct{ M *map[string]string }

func (j JSONMap) Value() (driver.Value, error) {
	if len(*j.M) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(*j.M)
	return string(b), err
}

func (j JSONMap) Scan(src any) error {
	*j.M = nil
	b, null, err := text(src)
	if null || err != nil {
		return err
	}
	return json.Unmarshal(b, j.M)
}
