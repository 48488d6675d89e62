package web

import (
	"sync"
	"time"
)

// lockout limits Console sign-in attempts per staff id: at most max
// failures within window, after which every attempt is refused until the
// window has passed. An attempt is counted before the password is even
// checked, under the lock, so parallel attempts cannot slip past the
// limit. It is per node: a cluster of n nodes allows n × max guesses per
// window, still far from a TOTP code's million.
type lockout struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	tries  map[string]*attempts
}

type attempts struct {
	start time.Time
	n     int
}

func newLockout(max int, window time.Duration) *lockout {
	return &lockout{max: max, window: window, tries: map[string]*attempts{}}
}

// take reserves an attempt for id at now; false means locked out.
func (l *lockout) take(id string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.tries[id]
	if a == nil || now.Sub(a.start) >= l.window {
		a = &attempts{start: now}
		l.tries[id] = a
	}
	if a.n >= l.max {
		return false
	}
	a.n++
	return true
}

// succeeded forgets id's failures.
func (l *lockout) succeeded(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.tries, id)
}
