package testnet_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/internal/testnet"
)

// echo serves one line back per connection on the machine's loopback, as
// PostgreSQL and NATS listen there.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// talk sends a line to addr from inside h and returns what came back, or
// "" when nothing did within two seconds.
func talk(t *testing.T, h *testnet.Host, addr string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	out, _ := h.Command(ctx, "bash", "-c",
		`exec 3<>/dev/tcp/`+host+`/`+port+` && echo ping >&3 && read -t 2 line <&3 && echo "$line"`).Output()
	return strings.TrimSpace(string(out))
}

func TestFaults(t *testing.T) {
	n := testnet.New(t)
	a, b := n.Host("a"), n.Host("b")
	svc := echo(t)
	fa, fb := n.Forward(a.Gateway, svc), n.Forward(b.Gateway, svc)
	reach := func(when string, h *testnet.Host, f *testnet.Forward, want bool) {
		t.Helper()
		if got := talk(t, h, f.Addr()) == "ping"; got != want {
			t.Errorf("%s: %s reaches the service: %v, want %v", when, h.Name, got, want)
		}
	}
	reach("at first", a, fa, true)
	reach("at first", b, fb, true)
	if out, err := a.Command(t.Context(), "bash", "-c", "echo > /dev/tcp/127.0.0.1/"+strings.Split(svc, ":")[1]).CombinedOutput(); err == nil {
		t.Errorf("a reached the machine's loopback directly: %s", out)
	}

	a.Cut()
	reach("a cut", a, fa, false)
	reach("a cut", b, fb, true)
	a.Heal()
	reach("a healed", a, fa, true)

	fa.Block()
	reach("a's forward blocked", a, fa, false)
	reach("a's forward blocked", b, fb, true)
	fa.Unblock()
	reach("a's forward unblocked", a, fa, true)

	fa.Drop(testnet.Down)
	reach("replies to a dropped", a, fa, false)
	fa.Restore(testnet.Down)
	fa.Drop(testnet.Up)
	reach("requests from a dropped", a, fa, false)
	fa.Restore(testnet.Up)
	reach("a restored", a, fa, true)

	fa.Loss(1) // every chunk held a retransmission timeout
	start := time.Now()
	reach("every chunk to and from a lost once", a, fa, true)
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("a round trip through a forward losing every chunk took %v, want at least a retransmission each way", took)
	}
	fa.Loss(0)

	fa.Delay(300*time.Millisecond, 100*time.Millisecond)
	start = time.Now()
	reach("a delayed", a, fa, true)
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("a round trip through a delayed forward took %v, want at least the delay each way", took)
	}
}
