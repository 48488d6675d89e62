package engine

import (
	"context"
	"time"

	"github.com/holdfast/holdfast"
)

// PutAccount creates or replaces what Holdfast knows of an account (its
// profile: creation, activity, tags, factors, known devices and countries,
// trusted contacts). The audit chain head is the store's and is kept.
func (e *Engine) PutAccount(ctx context.Context, a *holdfast.Account, actor holdfast.Actor) error {
	if err := holdfast.ValidateID("account", a.ID); err != nil {
		return err
	}
	for _, t := range a.Tags {
		if !t.Valid() {
			return holdfast.Errorf(holdfast.InvalidArgument, "tags", "unknown tag %q", t)
		}
	}
	for _, f := range a.Factors {
		if !f.Valid() {
			return holdfast.Errorf(holdfast.InvalidArgument, "factors", "unknown factor %q", f)
		}
	}
	return e.update(ctx, a.ID, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		cur := tx.Account()
		seq, hash, sec := cur.AuditSeq, cur.AuditHash, cur.Security
		*cur = *a.Clone()
		cur.AuditSeq, cur.AuditHash = seq, hash
		// The profile brings only the contact addresses; sessions, keys
		// and the holder's protections are not the caller's to replace.
		email, phone := cur.Security.Email, cur.Security.Phone
		cur.Security = sec
		cur.Security.Email, cur.Security.Phone = email, phone
		if cur.CreatedAt.IsZero() {
			cur.CreatedAt = now
		}
		if cur.LastActiveAt.IsZero() {
			cur.LastActiveAt = now
		}
		return false, saveAccount(tx, now, actor, holdfast.AuditAccountUpdated)
	})
}

// Account returns what Holdfast knows of an account.
func (e *Engine) Account(ctx context.Context, id string) (*holdfast.Account, error) {
	if err := holdfast.ValidateID("account", id); err != nil {
		return nil, err
	}
	return e.store.Account(ctx, id)
}

// Tags returns the account's tags, with the derived dormant tag when it has
// been inactive longer than the policy's dormant_after. An unknown account
// has none.
func (e *Engine) Tags(ctx context.Context, account string) ([]holdfast.Tag, error) {
	a, err := e.Account(ctx, account)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return []holdfast.Tag{}, nil
	}
	if err != nil {
		return nil, err
	}
	tags := append([]holdfast.Tag{}, a.Tags...)
	if e.dormant(a, e.clock.Now()) && !a.HasTag(holdfast.TagDormant) {
		tags = append(tags, holdfast.TagDormant)
	}
	return tags, nil
}

// dormant reports whether the account has been inactive longer than the
// policy's dormant_after at now (the derived dormant tag).
func (e *Engine) dormant(a *holdfast.Account, now time.Time) bool {
	after := e.policy().DormantAfter
	return after > 0 && !a.LastActiveAt.IsZero() && now.Sub(a.LastActiveAt) > after.Std()
}
