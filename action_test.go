package holdfast

import (
	"testing"
	"time"
)

func TestActionIndexMatchesActions(t *testing.T) {
	if len(Actions) != NumActions {
		t.Fatalf("NumActions = %d, Actions has %d", NumActions, len(Actions))
	}
	for i, a := range Actions {
		if a.Index() != i {
			t.Errorf("%s.Index() = %d, want %d", a, a.Index(), i)
		}
	}
	if Action("fly").Index() != -1 {
		t.Error("unknown action has an index")
	}
}

func TestCoarseClockFollowsTime(t *testing.T) {
	c := NewCoarseClock(time.Millisecond)
	defer c.Stop()
	first := c.Now()
	if d := time.Since(first); d < 0 || d > time.Second {
		t.Fatalf("coarse clock is %v away from the wall clock", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !c.Now().After(first) {
		if time.Now().After(deadline) {
			t.Fatal("coarse clock does not advance")
		}
		time.Sleep(time.Millisecond)
	}
}
