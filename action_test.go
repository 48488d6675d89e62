package holdfast

import "testing"

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
