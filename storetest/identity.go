package storetest

import "testing"

// testStoreID: a store has a random id of its own, made with its data,
// kept across reopening and different from any other store's.
func testStoreID(t *testing.T, h *harness) {
	id := h.s.StoreID()
	if len(id) < 16 {
		t.Fatalf("StoreID() = %q, want at least 16 characters (64 random bits)", id)
	}
	h.reopen()
	if got := h.s.StoreID(); got != id {
		t.Errorf("StoreID() after reopen = %q, want %q", got, id)
	}
	other := h.open(t, t.TempDir())
	defer other.Close()
	if other.StoreID() == id {
		t.Errorf("two stores share the id %q", id)
	}
}
