package postgres

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// Column adapters, as in package sqlite: each wraps a pointer to a domain
// field and is both the argument that writes it (pgx encodes a
// driver.Valuer) and the destination that reads it back (pgx decodes into
// an sql.Scanner), so one column list serves INSERT and SELECT alike, and
// values are stored exactly as SQLite stores them.

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// The instants an int64 of Unix nanoseconds can hold.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// nanos stores a time as BIGINT Unix nanoseconds, which round-trips every
// instant exactly and compares in SQL; the zero time is NULL. Times read
// back are in UTC.
type nanos struct{ t *time.Time }

func (n nanos) Value() (driver.Value, error) {
	t := *n.t
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("time %s is outside the storable range (years 1678-2262)", t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func (n nanos) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n.t = time.Time{}
	case int64:
		*n.t = time.Unix(0, v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want BIGINT", src)
	}
	return nil
}

// nanosArg is the SQL argument for t.
func nanosArg(t time.Time) nanos { return nanos{&t} }

// jsonList stores a slice as JSON TEXT; a nil slice is NULL so that nil and
// empty survive the round trip as they were.
type jsonList[T any] struct{ v *[]T }

func (j jsonList[T]) Value() (driver.Value, error) {
	if *j.v == nil {
		return nil, nil
	}
	b, err := json.Marshal(*j.v)
	return string(b), err
}

func (j jsonList[T]) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j.v = nil
		return nil
	case string:
		return json.Unmarshal([]byte(v), j.v)
	case []byte:
		return json.Unmarshal(v, j.v)
	}
	return fmt.Errorf("JSON column holds %T, want TEXT", src)
}

func list[T any](v *[]T) jsonList[T] { return jsonList[T]{v} }

// rawJSON stores audit JSON byte for byte (the hash covers those bytes);
// empty is NULL.
type rawJSON struct{ b *json.RawMessage }

func (r rawJSON) Value() (driver.Value, error) {
	if len(*r.b) == 0 {
		return nil, nil
	}
	return string(*r.b), nil
}

func (r rawJSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*r.b = nil
	case string:
		*r.b = json.RawMessage(v)
	case []byte:
		*r.b = bytes.Clone(v)
	default:
		return fmt.Errorf("JSON column holds %T, want TEXT", src)
	}
	return nil
}

// jsonValue stores a struct as JSON TEXT; NULL reads back as the zero value.
type jsonValue[T any] struct{ v *T }

func (j jsonValue[T]) Value() (driver.Value, error) {
	b, err := json.Marshal(j.v)
	return string(b), err
}

func (j jsonValue[T]) Scan(src any) error {
	var zero T
	*j.v = zero
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		return json.Unmarshal([]byte(v), j.v)
	case []byte:
		return json.Unmarshal(v, j.v)
	}
	return fmt.Errorf("JSON column holds %T, want TEXT", src)
}

// jsonPtr stores an optional struct as JSON TEXT, nil as NULL.
type jsonPtr[T any] struct{ v **T }

func (j jsonPtr[T]) Value() (driver.Value, error) {
	if *j.v == nil {
		return nil, nil
	}
	b, err := json.Marshal(*j.v)
	return string(b), err
}

func (j jsonPtr[T]) Scan(src any) error {
	*j.v = nil
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("JSON column holds %T, want TEXT", src)
	}
	*j.v = new(T)
	return json.Unmarshal(b, *j.v)
}

// jsonMap stores a string map as JSON TEXT, empty as NULL.
type jsonMap struct{ m *map[string]string }

func (j jsonMap) Value() (driver.Value, error) {
	if len(*j.m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(*j.m)
	return string(b), err
}

func (j jsonMap) Scan(src any) error {
	*j.m = nil
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		return json.Unmarshal([]byte(v), j.m)
	case []byte:
		return json.Unmarshal(v, j.m)
	}
	return fmt.Errorf("JSON column holds %T, want TEXT", src)
}
