package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// logged selects, beside a restriction row r, the After of the last audit
// entry that wrote it: one probe of the partial index audit_restriction.
var logged = `(SELECT b.after FROM audit b WHERE b.account = r.account AND b.restriction = r.id AND b.restriction <> ''
	AND b.action NOT IN ('` + strings.Join(holdfast.ApprovalActions, `', '`) + `') ORDER BY b.seq DESC LIMIT 1)`

// explainedCols are a restriction row's columns and its logged record.
var explainedCols = column.RestrictionCols + `, ` + logged

// scanExplained reads a row of explainedCols and returns the restriction
// to act on (holdfast.Explain): the row, or, when the log contradicts it,
// the log's version made no looser by the row, logged loudly.
func scanExplained(r Row) (*holdfast.Restriction, error) {
	row := new(holdfast.Restriction)
	var after json.RawMessage
	if err := r.Scan(append(column.RestrictionFields(row), column.RawJSON{B: &after})...); err != nil {
		return nil, err
	}
	if b, err := json.Marshal(row); err == nil && bytes.Equal(b, after) {
		return row, nil // the log's very bytes: the common case, without decoding
	}
	var rec *holdfast.Restriction
	if len(after) > 0 {
		rec, _ = holdfast.DecodeRestriction(after)
	}
	use, field := holdfast.Explain(row, rec)
	if field != "" {
		slog.Error("restriction row contradicts the audit log: acting on the log's version, no looser than the row; run holdfast audit verify",
			"account", row.Account, "restriction", row.ID, "kind", use.Kind, "field", field)
	}
	return use, nil
}

// eachInForce streams the restrictions where selects (over explainedCols
// of restrictions r), as scanExplained makes them, that are in force or
// still to come at at. The filter runs after the log has had its say: a
// row edited to look ended or lifted is still read and corrected.
func eachInForce(ctx context.Context, q Querier, where string, args []any, at time.Time, fn func(*holdfast.Restriction) error) error {
	return each(ctx, q, `SELECT `+explainedCols+` FROM restrictions r WHERE `+where, args, func(row Row) error {
		v, err := scanExplained(row)
		if err != nil || v.Over(at) {
			return err
		}
		return fn(v)
	})
}

// statePage is how many accounts VerifyState compares at a time.
const statePage = 500

// VerifyState replays the audit log of one account, or of every account
// when account is empty, and compares what it implies with the state
// tables. Accounts are read a page at a time, by id; an account whose
// audit head moved while its page was read is compared again alone, so a
// commit made meanwhile is no break.
func (s *Store) VerifyState(ctx context.Context, account string) (*holdfast.StateReport, error) {
	rep := &holdfast.StateReport{Breaks: []holdfast.StateBreak{}}
	if account == "" || account == holdfast.PolicyAccount {
		// The policy tables, against the policy chain: checked whether
		// the chain has a head yet or not, so rows written without any
		// entry are found too.
		breaks, n, err := s.verifyPolicyState(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 || len(breaks) > 0 {
			rep.Accounts++
			rep.Entries += n
			rep.Breaks = append(rep.Breaks, breaks...)
		}
	}
	if account != "" {
		return rep, s.verifyStateRange(ctx, account, account, rep)
	}
	after := ""
	for {
		var first, last string
		n := 0
		err := each(ctx, s.conn.Read(), `SELECT id FROM accounts WHERE id > ? ORDER BY id LIMIT ?`, []any{after, statePage}, func(r Row) error {
			n++
			if err := r.Scan(&last); err != nil {
				return err
			}
			if n == 1 {
				first = last
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: verify state: %w", s.d.Name, err)
		}
		if n == 0 {
			return rep, nil
		}
		if err := s.verifyStateRange(ctx, first, last, rep); err != nil {
			return nil, err
		}
		after = last
	}
}

// verifyStateRange compares the accounts with ids in [first, last].
func (s *Store) verifyStateRange(ctx context.Context, first, last string, rep *holdfast.StateReport) error {
	page, err := s.readState(ctx, first, last)
	if err != nil {
		return fmt.Errorf("%s: verify state: %w", s.d.Name, err)
	}
	for attempt := 0; ; attempt++ {
		moved, err := s.movedHeads(ctx, first, last, page.heads)
		if err != nil {
			return fmt.Errorf("%s: verify state: %w", s.d.Name, err)
		}
		if len(moved) == 0 || attempt == 3 || first == last && attempt > 0 {
			break
		}
		// Read the accounts that changed again; the rest stand.
		for _, id := range moved {
			again, err := s.readState(ctx, id, id)
			if err != nil {
				return fmt.Errorf("%s: verify state: %w", s.d.Name, err)
			}
			page.merge(id, again)
		}
	}
	for _, id := range page.order {
		if id == holdfast.StaffAccount || id == holdfast.PolicyAccount {
			// Staff and tokens: their own chain, no state of an account.
			// The policy chain's tables are compared by VerifyState
			// itself (verifyPolicyState).
			continue
		}
		p := page.proj[id]
		if p == nil {
			p = holdfast.NewProjection(id)
		}
		rep.Accounts++
		rep.Entries += page.heads[id]
		rep.Breaks = append(rep.Breaks, p.Compare(page.state[id])...)
	}
	return nil
}

// statePageData is one page of accounts: their projections and rows.
type statePageData struct {
	order []string // account ids in order, those with a row or any record
	heads map[string]int64
	proj  map[string]*holdfast.Projection
	state map[string]*holdfast.State
}

func (p *statePageData) of(account string) *holdfast.State {
	st := p.state[account]
	if st == nil {
		st = &holdfast.State{}
		p.state[account] = st
		p.order = append(p.order, account)
	}
	return st
}

// merge replaces account's data by o's.
func (p *statePageData) merge(account string, o *statePageData) {
	p.heads[account], p.proj[account] = o.heads[account], o.proj[account]
	st := o.state[account]
	if st == nil {
		st = &holdfast.State{}
	}
	p.of(account)
	p.state[account] = st
}

// readState reads the accounts in [first, last]: rows, and the log
// replayed (events' entries, which record no row, are skipped).
func (s *Store) readState(ctx context.Context, first, last string) (*statePageData, error) {
	p := &statePageData{heads: map[string]int64{}, proj: map[string]*holdfast.Projection{}, state: map[string]*holdfast.State{}}
	q, rng := s.conn.Read(), []any{first, last}
	err := each(ctx, q, `SELECT `+column.AccountCols+` FROM accounts WHERE id >= ? AND id <= ? ORDER BY id`, rng, func(r Row) error {
		a := new(holdfast.Account)
		if err := r.Scan(column.AccountFields(a)...); err != nil {
			return err
		}
		p.of(a.ID).Account, p.heads[a.ID] = a, a.AuditSeq
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, q, `SELECT account, seq, action, restriction, before, after FROM audit
		WHERE account >= ? AND account <= ? AND action <> ? ORDER BY account, seq`, append(rng, holdfast.AuditEvent), func(r Row) error {
		var e holdfast.AuditEntry
		if err := r.Scan(&e.Account, &e.Seq, &e.Action, &e.Restriction, column.RawJSON{B: &e.Before}, column.RawJSON{B: &e.After}); err != nil {
			return err
		}
		pr := p.proj[e.Account]
		if pr == nil {
			pr = holdfast.NewProjection(e.Account)
			p.proj[e.Account] = pr
			p.of(e.Account)
		}
		pr.Add(&e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, q, `SELECT `+column.RestrictionCols+` FROM restrictions WHERE account >= ? AND account <= ? ORDER BY account, id`, rng, func(r Row) error {
		v, err := scanRestriction(r)
		if err == nil {
			st := p.of(v.Account)
			st.Restrictions = append(st.Restrictions, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, q, `SELECT `+column.ApprovalCols+` FROM approvals WHERE account >= ? AND account <= ? ORDER BY account, id`, rng, func(r Row) error {
		v, err := scanApproval(r)
		if err == nil {
			st := p.of(v.Account)
			st.Approvals = append(st.Approvals, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, q, `SELECT account, total, `+withdrawalCols+` FROM withdrawals WHERE account >= ? AND account <= ? ORDER BY account, id`, rng, func(r Row) error {
		var (
			account string
			total   sql.NullString
		)
		v, err := scanWithdrawal(prefixed{prefixed{r, &account}, &total})
		if err == nil {
			v.Account = account // as the row's key says, whatever its request claims
			st := p.of(account)
			st.Withdrawals = append(st.Withdrawals, v)
			if st.WithdrawalTotals == nil {
				st.WithdrawalTotals = map[string]string{}
			}
			st.WithdrawalTotals[v.ID] = total.String
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, q, `SELECT doc, id, account, type, state, assignee FROM cases WHERE account >= ? AND account <= ? ORDER BY account, id`, rng, func(r Row) error {
		var c holdfast.CaseRow
		var doc string
		if err := r.Scan(&doc, &c.Columns.ID, &c.Columns.Account, &c.Columns.Type, &c.Columns.State, &c.Columns.Assignee); err != nil {
			return err
		}
		c.Doc = new(holdfast.Case)
		if err := json.Unmarshal([]byte(doc), c.Doc); err != nil {
			c.Doc = &holdfast.Case{ID: c.Columns.ID, Account: c.Columns.Account} // every field then differs
		}
		st := p.of(c.Columns.Account)
		st.Cases = append(st.Cases, c)
		return nil
	})
	return p, err
}

// movedHeads lists the accounts in [first, last] whose audit head is not
// the one heads recorded.
func (s *Store) movedHeads(ctx context.Context, first, last string, heads map[string]int64) ([]string, error) {
	var moved []string
	err := each(ctx, s.conn.Read(), `SELECT id, audit_seq FROM accounts WHERE id >= ? AND id <= ? ORDER BY id`, []any{first, last}, func(r Row) error {
		var id string
		var seq int64
		if err := r.Scan(&id, &seq); err != nil {
			return err
		}
		if h, ok := heads[id]; !ok || h != seq {
			moved = append(moved, id)
		}
		return nil
	})
	return moved, err
}

// prefixed scans a row whose first column is read into first, and the
// rest as a scan function of the columns after it expects.
type prefixed struct {
	Row
	first any
}

func (p prefixed) Scan(dest ...any) error { return p.Row.Scan(append([]any{p.first}, dest...)...) }
