package column

import "github.com/holdfast/holdfast"

// The row mappings both stores share: each table's column list, and the
// domain fields in that order (as scan destinations or as arguments).

// AccountCols are the accounts table's columns.
const AccountCols = `id, created_at, last_active_at, tags, factors, known_devices, known_countries,
	trusted_contacts, unfreeze_requested_at, verified_at, audit_seq, audit_hash, activity, security, holds`

// AccountFields lists a's columns in AccountCols order, as scan
// destinations or as arguments (database/sql binds a pointer's value).
func AccountFields(a *holdfast.Account) []any {
	return []any{
		&a.ID, Nanos{&a.CreatedAt}, Nanos{&a.LastActiveAt}, List(&a.Tags), List(&a.Factors),
		List(&a.KnownDevices), List(&a.KnownCountries), List(&a.TrustedContacts),
		Nanos{&a.UnfreezeRequestedAt}, Nanos{&a.VerifiedAt}, &a.AuditSeq, &a.AuditHash, JSONValue[holdfast.Activity]{&a.Activity},
		JSONValue[holdfast.Security]{&a.Security}, List(&a.Holds),
	}
}

// ApprovalCols are the approvals table's columns.
const ApprovalCols = `id, account, restriction, kind, asked_by, asked_roles, reason,
	created_at, expires_at, state, decided_by, decided_at, op, ends_at`

// ApprovalFields lists a's columns in ApprovalCols order.
func ApprovalFields(a *holdfast.Approval) []any {
	return []any{
		&a.ID, &a.Account, &a.Restriction, &a.Kind, &a.AskedBy, List(&a.AskedRoles), &a.Reason,
		Nanos{&a.CreatedAt}, Nanos{&a.ExpiresAt}, &a.State, &a.DecidedBy, Nanos{&a.DecidedAt},
		&a.Op, Nanos{&a.EndsAt},
	}
}

// RestrictionCols are the restrictions table's columns.
const RestrictionCols = `id, account, kind, device, starts_at, ends_at, reason, disclose,
	applied_by, created_at, factors, lifted_at, lifted_by, lift_reason, origin, reference`

// RestrictionFields lists r's columns in RestrictionCols order.
func RestrictionFields(r *holdfast.Restriction) []any {
	return []any{
		&r.ID, &r.Account, &r.Kind, &r.Device, Nanos{&r.StartsAt}, Nanos{&r.EndsAt}, &r.Reason, &r.Disclose,
		&r.AppliedBy, Nanos{&r.CreatedAt}, List(&r.Factors), Nanos{&r.LiftedAt}, &r.LiftedBy, &r.LiftReason,
		JSONPtr[holdfast.Origin]{&r.Origin}, &r.Reference,
	}
}

// OutboxCols are the outbox table's columns.
const OutboxCols = `id, account, type, restriction, event, notice, data, created_at, state, attempts, next_at,
	lease_until, last_error, last_attempt_at, delivered_at`

// DeliveryFields lists d's columns in OutboxCols order.
func DeliveryFields(d *holdfast.Delivery) []any {
	c := &d.Command
	return []any{
		&c.ID, &c.Account, &c.Type, &c.Restriction, &c.Event, &c.Notice, JSONMap{&c.Data}, Nanos{&c.CreatedAt}, &d.State, &d.Attempts, Nanos{&d.NextAt},
		Nanos{&d.LeaseUntil}, &d.LastError, Nanos{&d.LastAttemptAt}, Nanos{&d.DeliveredAt},
	}
}
