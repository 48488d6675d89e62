package rpc

import "sync"

// AuthCache lets whoever runs the API make it forget the tokens it has
// resolved, so that a change to tokens or staff made beside the API (a
// command run through the server's local socket) takes effect at once on
// this server rather than within the cache's TTL.
type AuthCache struct {
	mu    sync.Mutex
	auths []*authenticator
}

func (c *AuthCache) add(a *authenticator) {
	c.mu.Lock()
	c.auths = append(c.auths, a)
	c.mu.Unlock()
}

// Forget drops every cached token: the next call of each reads the store.
// A lookup that read the store before Forget is not cached after it.
func (c *AuthCache) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.auths {
		a.mu.Lock()
		a.gen.Add(1)
		clear(a.cache)
		a.mu.Unlock()
	}
}
