package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestDiskFull runs the server with a 3 MB file-size limit (the kernel
// refuses writes beyond it, as a full disk would) and floods it with
// events: once the store cannot grow, callers get a clear
// resource_exhausted, the server stays up, nothing half-written is left,
// and after a restart with room every acknowledged event is there and the
// audit chains verify.
func TestDiskFull(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash for ulimit")
	}
	bin := buildHoldfast(t)
	data := t.TempDir()
	cli(t, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin")
	_, tok, _ := cli(t, "token", "create", "--data", data, "--scopes", "staff,events", "--staff", "admin")
	token := strings.TrimSpace(tok)
	addr := freePort(t)
	limited := &node{t: t, url: "http://" + addr, args: []string{"bash", "-c", "ulimit -f 3000; exec " + bin + " serve --addr " + addr + " --data " + data + " --log-level error --rate-events 0"}}
	limited.start()
	t.Cleanup(limited.kill)

	c := rpc.NewClients(nil, limited.url, token)
	ctx := context.Background()
	var (
		mu        sync.Mutex
		acked     []string
		exhausted int
		other     []error
		wg        sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := range 1200 {
				id := fmt.Sprintf("e-%d-%d", w, i)
				_, err := c.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{
					Id: id, Type: "login", Account: "acct-" + id, Device: "device-" + id + strings.Repeat("x", 40), Session: "session-" + id + strings.Repeat("y", 40),
				}}))
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, id)
				case connect.CodeOf(err) == connect.CodeResourceExhausted:
					exhausted++
				default:
					other = append(other, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if exhausted == 0 || len(acked) == 0 {
		t.Fatalf("%d acknowledged, %d refused as resource_exhausted: the limit was not reached", len(acked), exhausted)
	}
	if len(other) > 0 {
		t.Errorf("%d other errors while full, e.g. %v", len(other), other[0])
	}
	limited.kill()

	addr2 := freePort(t)
	roomy := &node{t: t, url: "http://" + addr2, args: []string{bin, "serve", "--addr", addr2, "--data", data, "--log-level", "error"}}
	roomy.start()
	t.Cleanup(roomy.kill)
	c = rpc.NewClients(nil, roomy.url, token)
	for _, id := range acked {
		res, err := c.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{Id: id, Type: "login", Account: "acct-" + id}}))
		if err != nil || !res.Msg.Result.Duplicate {
			t.Fatalf("acknowledged event %s lost: %v %v", id, res, err)
		}
	}
	roomy.kill()
	if code, out, errw := cli(t, "audit", "verify", "--data", data); code != 0 || !strings.HasPrefix(out, "OK") {
		t.Fatalf("audit after the full disk: %d %s %s", code, out, errw)
	}
	t.Logf("%d events acknowledged before the store filled, %d refused as resource_exhausted; all acknowledged ones kept", len(acked), exhausted)
}
