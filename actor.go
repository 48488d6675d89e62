package holdfast

import (
	"slices"
	"strings"
)

// Role is a staff role.
type Role string

const (
	RoleSupport    Role = "support"
	RoleCompliance Role = "compliance"
	RoleLELiaison  Role = "le_liaison"
	RoleAdmin      Role = "admin"
)

// Roles lists every staff role.
var Roles = []Role{RoleSupport, RoleCompliance, RoleLELiaison, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// ActorType is the first part of an actor's written form.
type ActorType string

const (
	ActorUser           ActorType = "user"
	ActorStaff          ActorType = "staff"
	ActorTrustedContact ActorType = "trusted_contact"
	ActorSystem         ActorType = "system"
	ActorRule           ActorType = "rule"
)

// Actor is who asked for a change: "user:<account>", "staff:<id>",
// "trusted_contact:<id>", "system" or "rule:<id>". Staff actors carry the
// roles they hold at the time of the request; the roles are resolved by the
// caller (the API from the token, the scenario runner from its staff list)
// and are not part of the written form.
type Actor struct {
	Type  ActorType
	ID    string
	Roles []Role
}

// System is the actor for changes the engine makes by itself.
var System = Actor{Type: ActorSystem}

// User returns the actor for an account holder.
func User(account string) Actor { return Actor{Type: ActorUser, ID: account} }

// Staff returns a staff actor with the given roles.
func Staff(id string, roles ...Role) Actor { return Actor{Type: ActorStaff, ID: id, Roles: roles} }

// String returns the actor's written form.
func (a Actor) String() string {
	if a.Type == ActorSystem {
		return string(ActorSystem)
	}
	return string(a.Type) + ":" + a.ID
}

// HasRole reports whether a is staff holding r.
func (a Actor) HasRole(r Role) bool {
	return a.Type == ActorStaff && slices.Contains(a.Roles, r)
}

// HasAnyRole reports whether a is staff holding any of roles.
func (a Actor) HasAnyRole(roles []Role) bool {
	return slices.ContainsFunc(roles, a.HasRole)
}

// IsHolder reports whether a is the holder of account.
func (a Actor) IsHolder(account string) bool { return a.Type == ActorUser && a.ID == account }

// ParseActor parses an actor's written form. It does not resolve staff roles.
func ParseActor(s string) (Actor, error) {
	if s == string(ActorSystem) {
		return System, nil
	}
	typ, id, ok := strings.Cut(s, ":")
	if !ok || id == "" || ValidateID("actor", id) != nil {
		return Actor{}, Errorf(InvalidArgument, "actor", "actor %q must be user:<account>, staff:<id>, trusted_contact:<id>, system or rule:<id>", s)
	}
	switch t := ActorType(typ); t {
	case ActorUser, ActorStaff, ActorTrustedContact, ActorRule:
		return Actor{Type: t, ID: id}, nil
	}
	return Actor{}, Errorf(InvalidArgument, "actor", "unknown actor type %q", typ)
}

// MaxIDLength bounds account, staff, device and other identifiers.
const MaxIDLength = 128

// ValidateID checks an identifier: 1–128 printable ASCII characters without
// spaces or control characters.
func ValidateID(field, id string) error {
	if id == "" {
		return Errorf(InvalidArgument, field, "%s is required", field)
	}
	if len(id) > MaxIDLength {
		return Errorf(InvalidArgument, field, "%s is longer than %d characters", field, MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return Errorf(InvalidArgument, field, "%s may hold only printable ASCII without spaces", field)
		}
	}
	return nil
}
