package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/holdfast/holdfast"
	"github.com/jackc/pgx/v5"
)

func scanCase(s scanner) (*holdfast.Case, error) {
	var doc string
	if err := s.Scan(&doc); err != nil {
		return nil, err
	}
	c := new(holdfast.Case)
	if err := json.Unmarshal([]byte(doc), c); err != nil {
		return nil, fmt.Errorf("case document: %w", err)
	}
	return c, nil
}

// Case returns a case by id. Errors: not_found.
func (db *DB) Case(ctx context.Context, id string) (*holdfast.Case, error) {
	c, err := scanCase(db.pool.QueryRow(ctx, `SELECT doc FROM cases WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "case", "case %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: case %s: %w", id, err)
	}
	return c, nil
}

// Cases lists the cases f selects, earliest due first.
func (db *DB) Cases(ctx context.Context, f holdfast.CaseFilter) ([]*holdfast.Case, error) {
	var where []string
	var p params
	if f.Account != "" {
		where = append(where, "account = "+p.add(f.Account))
	}
	if f.State != "" {
		where = append(where, "state = "+p.add(string(f.State)))
	}
	if f.Type != "" {
		where = append(where, "type = "+p.add(string(f.Type)))
	}
	if f.Assignee != "" {
		where = append(where, "assignee = "+p.add(f.Assignee))
	}
	if f.Open {
		where = append(where, "state NOT IN ('approved', 'rejected', 'withdrawn')")
	}
	q := `SELECT doc FROM cases`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY due_at, id`
	if f.Limit > 0 {
		q += ` LIMIT ` + p.add(f.Limit)
	}
	out := []*holdfast.Case{}
	err := db.each(ctx, q, p.args, func(s scanner) error {
		c, err := scanCase(s)
		if err == nil {
			out = append(out, c)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: cases: %w", err)
	}
	return out, nil
}

// Cases returns every case of the account, oldest first, reading them once
// per update.
func (t *accountTx) Cases() []*holdfast.Case {
	if t.check() != nil {
		return nil
	}
	if !t.casesLoaded {
		cs, err := query(t, scanCase, `SELECT doc FROM cases WHERE account = $1 ORDER BY created_at, id`, t.id)
		if err != nil {
			t.fail(fmt.Errorf("postgres: load cases of %s: %w", t.id, err))
			return nil
		}
		t.cases, t.casesLoaded = cs, true
	}
	out := make([]*holdfast.Case, len(t.cases))
	for i, c := range t.cases {
		out[i] = c.Clone()
	}
	return out
}

// SaveCase inserts c or updates it by id.
func (t *accountTx) SaveCase(c *holdfast.Case) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.own("case", c.ID, &c.Account); err != nil {
		return err
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return t.fail(fmt.Errorf("postgres: encode case %s: %w", c.ID, err))
	}
	tag, err := t.exec(`INSERT INTO cases (id, account, type, state, assignee, created_at, updated_at, due_at, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET
			type = excluded.type, state = excluded.state, assignee = excluded.assignee,
			updated_at = excluded.updated_at, due_at = excluded.due_at, doc = excluded.doc
		WHERE cases.account = excluded.account`,
		c.ID, c.Account, string(c.Type), string(c.State), c.Assignee, nanosArg(c.CreatedAt), nanosArg(c.UpdatedAt), nanosArg(c.DueAt), string(doc))
	if err == nil {
		err = oneRow(tag)
	}
	if err != nil {
		return t.fail(fmt.Errorf("postgres: save case %s: %w", c.ID, err))
	}
	if t.casesLoaded {
		t.cases = upsert(t.cases, c.Clone(), func(c *holdfast.Case) string { return c.ID }, true)
		slices.SortStableFunc(t.cases, func(a, b *holdfast.Case) int { return a.CreatedAt.Compare(b.CreatedAt) })
	}
	return nil
}
