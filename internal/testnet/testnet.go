// Package testnet gives tests separate hosts on one machine: each Host is
// a Linux network namespace joined to the machine by its own veth pair,
// so a process started in it reaches the machine only over a link the
// test controls. Services that listen on the machine's loopback
// (PostgreSQL, NATS) are offered to the hosts through a Forward, a TCP
// relay on the hosts' side of the links, which can also refuse, cut one
// direction of, or delay the traffic of one service.
//
// Faults and where they live:
//   - a host cut off from everything: Host.Cut (its link goes down);
//   - a host cut off from one service: Forward.Block;
//   - one-way partitions of a service's connections: Forward.Drop, which
//     stops relaying one direction;
//   - slow and lossy links: Forward.Delay and Forward.Loss. The kernel of
//     the machines this project is tested on has no netem queueing
//     discipline (tc qdisc ... netem answers "Specified qdisc kind is
//     unknown") and no tc actions to drop packets, so both are applied by
//     the relay, per chunk of bytes, not per packet: a lost chunk is held
//     a retransmission timeout, as TCP's resend would hold it.
//
// It needs root and iproute2's ip; without them a test skips loudly, or
// fails when HOLDFAST_REQUIRE_SERVICES=1.
package testnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/holdfast/holdfast/internal/servicetest"
)

// Net is one test's set of hosts; everything it made goes away when the
// test ends.
type Net struct {
	t      testing.TB
	no     int    // this Net's number in the process
	prefix string // of its namespaces' and links' names
	hosts  int
}

// nets numbers the Nets of this process, so that parallel tests get
// different subnets and names.
var nets atomic.Int32

// New returns an empty Net, or skips the test when namespaces cannot be
// made here.
func New(t testing.TB) *Net {
	t.Helper()
	if os.Geteuid() != 0 {
		servicetest.Missing(t, "network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		servicetest.Missing(t, "iproute2's ip is not installed")
	}
	n := int(nets.Add(1))
	if n > 4 {
		t.Fatal("testnet: at most 4 Nets in one process")
	}
	return &Net{t: t, no: n, prefix: fmt.Sprintf("hf%d-%d", os.Getpid()%100000, n)}
}

// Host is one namespace and its link to the machine.
type Host struct {
	net  *Net
	Name string // the namespace's name
	link string // the machine's end of the veth pair
	// Addr is the host's address; Gateway, the machine's end of the link,
	// where Forwards listen.
	Addr, Gateway string
}

// Host makes a new host, up to 60 per Net.
func (n *Net) Host(name string) *Host {
	n.t.Helper()
	n.hosts++
	if n.hosts > 60 {
		n.t.Fatal("testnet: too many hosts")
	}
	// Subnet 10.(20+pid%200).(Net*60+host).0/30: distinct for every host
	// of every Net in this process, and most likely from another test
	// binary's.
	sub := fmt.Sprintf("10.%d.%d", 20+os.Getpid()%200, (n.no-1)*60+n.hosts)
	h := &Host{
		net:     n,
		Name:    fmt.Sprintf("%s-%s", n.prefix, name),
		link:    fmt.Sprintf("%sh%d", n.prefix, n.hosts),
		Addr:    sub + ".2",
		Gateway: sub + ".1",
	}
	if len(h.link) > 15 {
		n.t.Fatalf("testnet: link name %s is longer than an interface name may be", h.link)
	}
	n.t.Cleanup(func() {
		run(context.Background(), "ip", "link", "del", h.link)
		run(context.Background(), "ip", "netns", "del", h.Name)
	})
	for _, args := range [][]string{
		{"netns", "add", h.Name},
		{"link", "add", h.link, "type", "veth", "peer", "name", "eth0", "netns", h.Name},
		{"addr", "add", h.Gateway + "/30", "dev", h.link},
		{"link", "set", h.link, "up"},
		{"-n", h.Name, "addr", "add", h.Addr + "/30", "dev", "eth0"},
		{"-n", h.Name, "link", "set", "eth0", "up"},
		{"-n", h.Name, "link", "set", "lo", "up"},
	} {
		if out, err := run(n.t.Context(), "ip", args...); err != nil {
			servicetest.Missing(n.t, "cannot make test host %s: ip %s: %v: %s", h.Name, strings.Join(args, " "), err, out)
		}
	}
	return h
}

// Command returns a command that runs name in the host's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Cut takes the host's link down: nothing reaches it or leaves it, as a
// machine whose network cable was pulled.
func (h *Host) Cut() { h.setLink("down") }

// Heal brings the host's link back up.
func (h *Host) Heal() { h.setLink("up") }

func (h *Host) setLink(state string) {
	h.net.t.Helper()
	if out, err := run(context.Background(), "ip", "link", "set", h.link, state); err != nil {
		h.net.t.Fatalf("testnet: link %s %s: %v: %s", h.link, state, err, out)
	}
}

// run runs a command and returns its combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
