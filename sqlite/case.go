package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/holdfast/holdfast"
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
	c, err := scanCase(db.queryRow(ctx, `SELECT doc FROM cases WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "case", "case %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: case %s: %w", id, err)
	}
	return c, nil
}

// Cases lists the cases f selects, earliest due first.
func (db *DB) Cases(ctx context.Context, f holdfast.CaseFilter) ([]*holdfast.Case, error) {
	var where []string
	var params []any
	add := func(cond string, v any) {
		where = append(where, cond)
		params = append(params, v)
	}
	if f.Account != "" {
		add("account = ?", f.Account)
	}
	if f.State != "" {
		add("state = ?", string(f.State))
	}
	if f.Type != "" {
		add("type = ?", string(f.Type))
	}
	if f.Assignee != "" {
		add("assignee = ?", f.Assignee)
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
		q += ` LIMIT ?`
		params = append(params, f.Limit)
	}
	out := []*holdfast.Case{}
	err := db.each(ctx, q, params, func(s scanner) error {
		c, err := scanCase(s)
		if err == nil {
			out = append(out, c)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: cases: %w", err)
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
		rows, err := t.w.query(`SELECT doc FROM cases WHERE account = ? ORDER BY created_at, id`, t.id)
		if err != nil {
			t.fail(fmt.Errorf("sqlite: load cases of %s: %w", t.id, err))
			return nil
		}
		defer rows.Close()
		var cs []*holdfast.Case
		for rows.Next() {
			c, err := scanCase(rows)
			if err != nil {
				t.fail(fmt.Errorf("sqlite: load cases of %s: %w", t.id, err))
				return nil
			}
			cs = append(cs, c)
		}
		if err := rows.Err(); err != nil {
			t.fail(fmt.Errorf("sqlite: load cases of %s: %w", t.id, err))
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
		return t.fail(fmt.Errorf("sqlite: encode case %s: %w", c.ID, err))
	}
	res, err := t.w.exec(`INSERT INTO cases (id, account, type, state, assignee, created_at, updated_at, due_at, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			type = excluded.type, state = excluded.state, assignee = excluded.assignee,
			updated_at = excluded.updated_at, due_at = excluded.due_at, doc = excluded.doc
		WHERE cases.account = excluded.account`,
		c.ID, c.Account, string(c.Type), string(c.State), c.Assignee, nanosArg(c.CreatedAt), nanosArg(c.UpdatedAt), nanosArg(c.DueAt), string(doc))
	if err == nil {
		err = oneRow(res)
	}
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: save case %s: %w", c.ID, err))
	}
	if t.casesLoaded {
		t.cases = upsert(t.cases, c.Clone(), func(c *holdfast.Case) string { return c.ID }, true)
		slices.SortStableFunc(t.cases, func(a, b *holdfast.Case) int { return a.CreatedAt.Compare(b.CreatedAt) })
	}
	return nil
}
