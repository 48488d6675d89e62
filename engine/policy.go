package engine

import (
	"context"

	"github.com/holdfast/holdfast"
)

// SwitchPolicy makes p the policy in force, without a restart. Events and
// withdrawals already being judged finish under the old policy, every
// later one is judged by p: each holds switching for its whole run, and
// the switch waits for them. The decision index is rebuilt afterwards,
// since p may give a kind other effects; until the rebuild ends, checks
// answer by the old effects.
func (e *Engine) SwitchPolicy(ctx context.Context, p *holdfast.Policy) error {
	e.switching.Lock()
	e.pol.Store(p)
	e.switching.Unlock()
	e.log.Info("policy switched", "version", p.Hash)
	return e.Rebuild(ctx)
}
