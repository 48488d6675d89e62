package postgres_test

import (
	"testing"

	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/racetest"
	"github.com/holdfast/holdfast/policy"
)

// TestPanicLockRacesWithdrawalsOnThreeNodes is the core issue's race test
// on PostgreSQL: three engines, each with its own connection pool (three
// nodes), take the flood of withdrawals while the panic lock commits
// through the first. No approval may commit after the lock.
func TestPanicLockRacesWithdrawalsOnThreeNodes(t *testing.T) {
	dsn := newSchema(t, schemaName(t.Name()))
	nodes := make([]*engine.Engine, 3)
	for i := range nodes {
		db := open(t, dsn)
		t.Cleanup(func() { db.Close() })
		eng, err := engine.New(t.Context(), engine.Config{Store: db, Policy: policy.Default()})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = eng
	}
	racetest.PanicLockRace(t, nodes...)
}
