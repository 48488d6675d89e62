package main

import (
	"fmt"
	"os"
	"time"

	"github.com/holdfast/holdfast"
)

// Knobs for the fault tests (cmd/holdfast/partition_test.go), read from
// the environment so that no flag offers them to operators. Both make a
// node wrong on purpose; serve logs a warning when one is set.
const (
	// clockOffsetEnv runs the node's clock ahead (or, negative, behind) by
	// a Go duration: decisions, restriction times and the feed's stamps.
	clockOffsetEnv = "HOLDFAST_TEST_CLOCK_OFFSET"
	// brokenWithdrawalsEnv=1 decides withdrawals from the node's index
	// instead of the store (engine.Config.BrokenWithdrawals).
	brokenWithdrawalsEnv = "HOLDFAST_TEST_BROKEN_WITHDRAWALS"
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
