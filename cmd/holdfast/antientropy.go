package main

import (
	"context"
	"os"

	"github.com/holdfast/holdfast/bus"
	"github.com/holdfast/holdfast/engine"
)

// dropFeedEnv, set to 1, makes a node ignore the index changes the feed
// brings (heartbeats still count), as if every message were lost: for
// tests of anti-entropy only. Never set it in production.
const dropFeedEnv = "HOLDFAST_TEST_DROP_FEED"

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
