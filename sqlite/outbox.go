package sqlite

import "github.com/holdfast/holdfast"

// The outbox is package sqlstore's: Enqueue in the account transaction,
// claims, leases, settlement and listing.

// The outbox's types are the domain's (holdfast.Delivery and friends), so
// that every store offers the same outbox; these names keep this package's
// callers short.
type (
	CommandState = holdfast.CommandState
	Delivery     = holdfast.Delivery
	TypeFilter   = holdfast.TypeFilter
)

const (
	CommandPending   = holdfast.CommandPending
	CommandDelivered = holdfast.CommandDelivered
	CommandDead      = holdfast.CommandDead
)
