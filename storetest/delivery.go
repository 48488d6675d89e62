package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// The outbox's delivery contract, for stores that offer one
// (holdfast.OutboxStore): claims, leases, failures, dead letters, redrive.

// outbox is a store with its outbox.
type outbox interface {
	holdfast.Store
	holdfast.OutboxStore
}

func outboxOf(t *testing.T, s holdfast.Store) outbox {
	t.Helper()
	o, ok := s.(outbox)
	if !ok {
		t.Skip("the store offers no outbox delivery")
	}
	return o
}

// enqueue commits one command per id on account a1, created at at.
func enqueue(t *testing.T, db outbox, at time.Time, ids ...string) {
	t.Helper()
	err := db.Update(t.Context(), "a1", at, func(tx holdfast.AccountTx) error {
		for _, id := range ids {
			if err := tx.Enqueue(&holdfast.Command{ID: id, Type: holdfast.CommandNotifyHolder, CreatedAt: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func claim(t *testing.T, db outbox, now time.Time, lease time.Duration, limit int) []holdfast.Delivery {
	t.Helper()
	ds, err := db.ClaimCommandsOf(t.Context(), holdfast.TypeFilter{}, now, lease, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func commandIDs(ds []holdfast.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Command.ID)
	}
	return out
}

func command(t *testing.T, db outbox, id string) *holdfast.Delivery {
	t.Helper()
	d, err := db.Command(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A command's life: due at once, claimed for a lease and invisible to
// other claims meanwhile, failed and due again at the retry time, claimed
// again, delivered; or dead after the last failure, listed for staff, and
// redriven.
func testOutboxLifecycle(t *testing.T, h *harness) {
	db := outboxOf(t, h.s)
	ctx := t.Context()
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	enqueue(t, db, t0, "c1", "c2", "c3")

	if ds := claim(t, db, t0.Add(-time.Nanosecond), time.Minute, 10); len(ds) != 0 {
		t.Fatalf("claimed %v before they were due", commandIDs(ds))
	}
	ds := claim(t, db, t0, time.Minute, 2)
	if got := commandIDs(ds); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("first claim = %v, want [c1 c2] (oldest first, limit 2)", got)
	}
	d := ds[0]
	if d.Command.Account != "a1" || d.Command.Type != holdfast.CommandNotifyHolder || !d.Command.CreatedAt.Equal(t0) ||
		d.State != holdfast.CommandPending || d.Attempts != 0 || !d.LeaseUntil.Equal(t0.Add(time.Minute)) {
		t.Errorf("claimed delivery = %+v", d)
	}
	if got := commandIDs(claim(t, db, t0.Add(59*time.Second), time.Minute, 10)); !slices.Equal(got, []string{"c3"}) {
		t.Errorf("claim during the lease = %v, want only [c3]", got)
	}

	// c1 fails and is due again in 10 s; c2 is delivered.
	retry := t0.Add(10 * time.Second)
	if err := db.FailCommand(ctx, "c1", d.LeaseUntil, t0.Add(time.Second), "HTTP 500: oops", retry); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteCommand(ctx, "c2", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteCommand(ctx, "c2", t0.Add(2*time.Second)); err != nil {
		t.Errorf("completing twice: %v, want nil", err)
	}
	c1 := command(t, db, "c1")
	if c1.State != holdfast.CommandPending || c1.Attempts != 1 || !c1.NextAt.Equal(retry) || !c1.LeaseUntil.IsZero() ||
		c1.LastError != "HTTP 500: oops" || !c1.LastAttemptAt.Equal(t0.Add(time.Second)) {
		t.Errorf("c1 after a failure = %+v", c1)
	}
	if c2 := command(t, db, "c2"); c2.State != holdfast.CommandDelivered || !c2.DeliveredAt.Equal(t0.Add(time.Second)) || !c2.LeaseUntil.IsZero() {
		t.Errorf("c2 after completion = %+v", c2)
	}
	// The stale claim of c1 can no longer fail it.
	err := db.FailCommand(ctx, "c1", d.LeaseUntil, t0.Add(time.Second), "late", retry)
	wantCode(t, "FailCommand with a spent lease", err, holdfast.FailedPrecondition, "")
	if got := command(t, db, "c1"); got.Attempts != 1 {
		t.Errorf("a refused failure changed c1: %+v", got)
	}
	// Nor can anything fail a delivered command.
	err = db.FailCommand(ctx, "c2", ds[1].LeaseUntil, t0.Add(time.Second), "late", retry)
	wantCode(t, "FailCommand of a delivered command", err, holdfast.FailedPrecondition, "")

	if got := commandIDs(claim(t, db, retry.Add(-time.Nanosecond), time.Minute, 10)); len(got) != 0 {
		t.Errorf("c1 claimed before its retry time: %v", got)
	}
	ds = claim(t, db, retry, time.Minute, 10)
	if got := commandIDs(ds); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("claim at the retry time = %v, want [c1]", got)
	}
	// Give up on c1: dead.
	long := strings.Repeat("é", 1000)
	if err := db.FailCommand(ctx, "c1", ds[0].LeaseUntil, retry, long, time.Time{}); err != nil {
		t.Fatal(err)
	}
	c1 = command(t, db, "c1")
	if c1.State != holdfast.CommandDead || c1.Attempts != 2 || len(c1.LastError) > 1024 || !strings.HasPrefix(long, c1.LastError) {
		t.Errorf("c1 after giving up = %+v (last error %d bytes)", c1, len(c1.LastError))
	}
	if got := commandIDs(claim(t, db, retry.Add(time.Hour), time.Minute, 10)); !slices.Equal(got, []string{"c3"}) {
		t.Errorf("claim after c1 died = %v, want only c3 (its lease ran out)", got)
	}

	list := func(state holdfast.CommandState, limit int, want ...string) {
		t.Helper()
		ds, err := db.ListCommands(ctx, state, limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := commandIDs(ds); !slices.Equal(got, want) {
			t.Errorf("ListCommands(%q, %d) = %v, want %v", state, limit, got, want)
		}
	}
	list(holdfast.CommandDead, 0, "c1")
	list(holdfast.CommandDelivered, 0, "c2")
	list(holdfast.CommandPending, 0, "c3")
	list("", 0, "c3", "c2", "c1")
	list("", 2, "c3", "c2")
	if _, err := db.ListCommands(ctx, "lost", 0); holdfast.ErrorCode(err) != holdfast.InvalidArgument {
		t.Errorf("ListCommands(lost) = %v, want invalid_argument", err)
	}

	// Redrive: dead → pending, due at once, a fresh count of attempts.
	redriven := retry.Add(2 * time.Hour)
	if err := db.RedriveCommand(ctx, "c1", redriven); err != nil {
		t.Fatal(err)
	}
	c1 = command(t, db, "c1")
	if c1.State != holdfast.CommandPending || c1.Attempts != 0 || !c1.NextAt.Equal(redriven) || c1.LastError == "" {
		t.Errorf("c1 after redrive = %+v", c1)
	}
	if got := commandIDs(claim(t, db, redriven, time.Minute, 10)); !slices.Contains(got, "c1") {
		t.Errorf("claim after redrive = %v, want c1 in it", got)
	}
	wantCode(t, "redrive of a delivered command", db.RedriveCommand(ctx, "c2", redriven), holdfast.FailedPrecondition, "")
	for name, err := range map[string]error{
		"redrive":  db.RedriveCommand(ctx, "nope", redriven),
		"complete": db.CompleteCommand(ctx, "nope", redriven),
		"fail":     db.FailCommand(ctx, "nope", redriven, redriven, "x", time.Time{}),
	} {
		wantCode(t, name+" of an unknown command", err, holdfast.NotFound, "")
	}
	if _, err := db.Command(ctx, "nope"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("Command(nope) = %v, want not_found", err)
	}
}

// Redriving a pending command brings its next attempt forward, never back,
// and leaves a running claim alone.
func testRedrivePending(t *testing.T, h *harness) {
	db := outboxOf(t, h.s)
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	enqueue(t, db, t0, "c1")
	d := claim(t, db, t0, time.Minute, 1)[0]
	if err := db.FailCommand(t.Context(), "c1", d.LeaseUntil, t0, "500", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RedriveCommand(t.Context(), "c1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c := command(t, db, "c1"); !c.NextAt.Equal(t0.Add(time.Minute)) || c.Attempts != 1 {
		t.Errorf("c1 after redriving it pending = %+v, want due at t0+1m with its attempt kept", c)
	}
	if err := db.RedriveCommand(t.Context(), "c1", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c := command(t, db, "c1"); !c.NextAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("c1 after redriving it later = %+v, want still due at t0+1m", c)
	}
	d = claim(t, db, t0.Add(time.Minute), time.Minute, 1)[0]
	if err := db.RedriveCommand(t.Context(), "c1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, db, t0.Add(time.Minute), time.Minute, 1); len(got) != 0 {
		t.Errorf("redrive broke a running claim: claimed again %v", commandIDs(got))
	}
	if c := command(t, db, "c1"); !c.LeaseUntil.Equal(d.LeaseUntil) {
		t.Errorf("lease after redrive = %v, want %v", c.LeaseUntil, d.LeaseUntil)
	}
}

// Two handles on one store, as two processes or nodes would be, claim
// concurrently: no command is handed to both while its lease runs, and none
// is missed.
func testClaimsAcrossHandles(t *testing.T, h *harness) {
	a := outboxOf(t, h.s)
	second := h.open(t, h.dir)
	defer second.Close()
	b := outboxOf(t, second)
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	const n = 300
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("c%03d", i))
	}
	enqueue(t, a, t0, ids...)

	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		db := a
		if w%2 == 1 {
			db = b
		}
		wg.Go(func() {
			for {
				ds, err := db.ClaimCommandsOf(t.Context(), holdfast.TypeFilter{}, t0, time.Hour, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				twice := false
				for _, d := range ds {
					seen[d.Command.ID]++
					twice = twice || seen[d.Command.ID] > 1
				}
				mu.Unlock()
				if twice {
					return // reported below
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct commands, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s claimed %d times within its lease", id, k)
		}
	}
}

// A command without a creation time is stamped with the update's now and
// due at once.
func testEnqueueStampsCreation(t *testing.T, h *harness) {
	db := outboxOf(t, h.s)
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	err := db.Update(t.Context(), "a1", t0, func(tx holdfast.AccountTx) error {
		return tx.Enqueue(&holdfast.Command{ID: "c1", Type: holdfast.CommandRevokeSessions})
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := command(t, db, "c1"); !c.Command.CreatedAt.Equal(t0) || !c.NextAt.Equal(t0) {
		t.Errorf("c1 = %+v, want created and due at %v", c, t0)
	}
	err = db.Update(t.Context(), "a1", t0, func(tx holdfast.AccountTx) error {
		return tx.Enqueue(&holdfast.Command{ID: "c2"})
	})
	wantCode(t, "Enqueue without a type", err, holdfast.InvalidArgument, "")
}
