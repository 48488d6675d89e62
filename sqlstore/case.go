package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// A case is stored as its JSON document, with the columns lists filter and
// order by beside it.

func scanCase(r Row) (*holdfast.Case, error) {
	var doc string
	if err := r.Scan(&doc); err != nil {
		return nil, err
	}
	c := new(holdfast.Case)
	if err := json.Unmarshal([]byte(doc), c); err != nil {
		return nil, fmt.Errorf("case document: %w", err)
	}
	return c, nil
}

// Case returns a case by id. Errors: not_found.
func (s *Store) Case(ctx context.Context, id string) (*holdfast.Case, error) {
	return byID(ctx, s, "case", "case", scanCase, `SELECT doc FROM cases WHERE id = ?`, id)
}

// Cases lists the cases f selects, earliest due first.
func (s *Store) Cases(ctx context.Context, f holdfast.CaseFilter) ([]*holdfast.Case, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where, args = append(where, cond), append(args, v)
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
		q, args = q+` LIMIT ?`, append(args, f.Limit)
	}
	out := []*holdfast.Case{}
	err := each(ctx, s.conn.Read(), q, args, func(r Row) error {
		c, err := scanCase(r)
		out = append(out, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: cases: %w", s.d.Name, err)
	}
	return out, nil
}

// Cases returns every case of the account, oldest first, reading them once
// per update.
func (t *accountTx) Cases() []*holdfast.Case {
	cs, _ := t.cases.get(t, "cases", scanCase, `SELECT doc FROM cases WHERE account = ? ORDER BY created_at, id`, t.id)
	out := make([]*holdfast.Case, len(cs))
	for i, c := range cs {
		out[i] = c.Clone()
	}
	return out
}

// SaveCase inserts c or updates it by id.
func (t *accountTx) SaveCase(c *holdfast.Case) error {
	if err := t.begin("case", c.ID, &c.Account); err != nil {
		return err
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return t.failf(err, "encode case %s", c.ID)
	}
	err = t.upsertRow("case", c.ID, `INSERT INTO cases (id, account, type, state, assignee, created_at, updated_at, due_at, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			type = excluded.type, state = excluded.state, assignee = excluded.assignee,
			updated_at = excluded.updated_at, due_at = excluded.due_at, doc = excluded.doc
		WHERE cases.account = excluded.account`,
		c.ID, c.Account, string(c.Type), string(c.State), c.Assignee,
		column.NanosArg(c.CreatedAt), column.NanosArg(c.UpdatedAt), column.NanosArg(c.DueAt), string(doc))
	if err != nil {
		return err
	}
	if t.cases.upsert(c.Clone(), func(c *holdfast.Case) string { return c.ID }, true) {
		slices.SortStableFunc(t.cases.rows, func(a, b *holdfast.Case) int { return a.CreatedAt.Compare(b.CreatedAt) })
	}
	return nil
}
