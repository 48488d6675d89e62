package postgres

import (
	"context"
	"sync"
)

// accountLocks queues a process's updates of one account in memory, so
// that they wait for each other without each holding a pooled connection
// blocked on the account row's lock: a hot account cannot take the whole
// pool from the others. The row lock still serialises updates across
// processes; this only spares connections.
type accountLocks struct {
	mu sync.Mutex
	m  map[string]*accountLock
}

type accountLock struct {
	held chan struct{} // holds a token while the lock is taken
	refs int           // holders and waiters
}

// lock waits for account's lock, or for ctx to end.
func (l *accountLocks) lock(ctx context.Context, account string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*accountLock)
	}
	e := l.m[account]
	if e == nil {
		e = &accountLock{held: make(chan struct{}, 1)}
		l.m[account] = e
	}
	e.refs++
	l.mu.Unlock()
	select {
	case e.held <- struct{}{}:
		return func() {
			<-e.held
			l.release(account, e)
		}, nil
	case <-ctx.Done():
		l.release(account, e)
		return nil, ctx.Err()
	}
}

func (l *accountLocks) release(account string, e *accountLock) {
	l.mu.Lock()
	if e.refs--; e.refs == 0 {
		delete(l.m, account)
	}
	l.mu.Unlock()
}
