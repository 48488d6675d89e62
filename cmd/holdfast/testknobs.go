package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/bus"
	"github.com/holdfast/holdfast/engine"
)

// Knobs for the fault tests (partition_test.go, antientropy_test.go), read
// from the environment so that no flag offers them to operators. Each
// makes a node wrong on purpose; never set one in production.
const (
	// clockOffsetEnv runs the node's clock ahead (or, negative, behind) by
	// a Go duration: decisions, restriction times and the feed's stamps.
	clockOffsetEnv = "HOLDFAST_TEST_CLOCK_OFFSET"
	// brokenWithdrawalsEnv=1 decides withdrawals from the node's index
	// instead of the store (engine.Config.BrokenWithdrawals).
	brokenWithdrawalsEnv = "HOLDFAST_TEST_BROKEN_WITHDRAWALS"
	// dropFeedEnv=1 makes the node ignore the index changes the feed
	// brings (heartbeats still count), as if every message were lost: for
	// the tests of anti-entropy.
	dropFeedEnv = "HOLDFAST_TEST_DROP_FEED"
)

// offsetClock is a clock d ahead of another.
type offsetClock struct {
	holdfast.Clock
	d time.Duration
}

func (c offsetClock) Now() time.Time { return c.Clock.Now().Add(c.d) }

// testClock wraps clock with the offset clockOffsetEnv asks for, if any.
func testClock(clock holdfast.Clock) (holdfast.Clock, time.Duration, error) {
	v := os.Getenv(clockOffsetEnv)
	if v == "" {
		return clock, 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", clockOffsetEnv, err)
	}
	return offsetClock{clock, d}, d, nil
}

// feedApplier is what applies the change feed to eng: eng itself, or,
// under dropFeedEnv, an applier that loses every change.
func feedApplier(eng *engine.Engine) bus.Applier {
	if os.Getenv(dropFeedEnv) == "1" {
		return dropChanges{eng}
	}
	return eng
}

// dropChanges loses the changes the feed brings.
type dropChanges struct{ *engine.Engine }

func (dropChanges) Refresh(context.Context, string) error { return nil }
