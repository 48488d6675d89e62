package holdfast

import (
	"context"
	"time"
)

// PageSite is which of the pages a session is signed in to.
type PageSite string

const (
	// SiteHolder is the Security Center (/me/): the subject is an account.
	SiteHolder PageSite = "holder"
	// SiteStaff is the Console (/console/): the subject is a staff member.
	SiteStaff PageSite = "staff"
)

// PageSession is a signed-in session of the pages. It lives in the store,
// so that every node sharing the store agrees on it: signing out,
// securing the account or going idle ends it everywhere at once.
type PageSession struct {
	// Hash is the SHA-256 (hex) of the random id the session's cookie
	// carries; the id itself is never stored.
	Hash    string
	Site    PageSite
	Subject string
	// CreatedAt is the sign-in; LastSeenAt the last request that used
	// the session.
	CreatedAt, LastSeenAt time.Time
	// Idle ends the session when no request used it for that long (0:
	// no idle bound).
	Idle time.Duration
	// ExpiresAt ends it however busy it is.
	ExpiresAt time.Time
}

// EndsAt is when the session ends unless a request uses it again.
func (s *PageSession) EndsAt() time.Time {
	if s.Idle > 0 {
		if idle := s.LastSeenAt.Add(s.Idle); idle.Before(s.ExpiresAt) {
			return idle
		}
	}
	return s.ExpiresAt
}

// PageSessions keeps the pages' sessions, and what makes a staff member's
// one-time code work once.
type PageSessions interface {
	// StartPageSession stores a new session, and forgets every session
	// that had ended by its CreatedAt, so the table holds little more
	// than the sessions in use.
	StartPageSession(ctx context.Context, s *PageSession) error
	// PageSession returns the session with this hash if it is in force
	// at now, and records now as its last use (which moves an idle
	// bound). Errors: unauthenticated when no session has the hash, or
	// it has ended (signed out, expired, idle).
	PageSession(ctx context.Context, hash string, now time.Time) (*PageSession, error)
	// EndPageSession ends one session (a sign-out). An unknown hash is
	// no error: the session is over either way.
	EndPageSession(ctx context.Context, hash string) error
	// UseTOTPStep records that a code of the 30-second time step step
	// signed staff member id in. Errors: unauthenticated when a code of
	// this step or a later one signed them in before (on any node
	// sharing the store), so a code works once and an older one never
	// after a newer; not_found.
	UseTOTPStep(ctx context.Context, id string, step int64) error
}
