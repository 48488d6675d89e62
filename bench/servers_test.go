package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/client"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// This file serves bench/compare.sh, which puts `holdfast serve` beside
// OPA's own server (`opa run --server`) over the fixture of
// fixture_test.go. TestServersPrepare writes what both servers and the load
// generators read, TestServersSameAnswers requires the same verdicts from
// the running servers, and BenchmarkCheckParallel is the in-process half of
// the scaling table.

// serverRego is regoPolicy as a server runs it: the caller sends only the
// account and the action, the policy reads the clock itself (as the
// ext_authz policy does), so that a load generator can replay fixed
// bodies. Queried at POST /v1/data/holdfast/effect.
var serverRego = strings.ReplaceAll(regoPolicy, "input.now", "now") + "\nnow := time.now_ns() / 1000000000\n"

// numServerQuestions is the length of the load's question list.
const numServerQuestions = 10_000

// serverQuestions is the load's mix, shuffled: half over every account,
// half over the restricted ones (so that denials are frequent), the
// action uniform.
func serverQuestions() []question {
	qs := append(questions(numServerQuestions/2, false, 11), questions(numServerQuestions/2, true, 12)...)
	rand.New(rand.NewPCG(13, 7)).Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	return qs
}

// TestServersPrepare writes into HOLDFAST_BENCH_PREP=DIR:
//
//	opa/data.json, opa/check.rego  what opa run --server DIR/opa loads
//	questions.txt                  "account action" per line, for wrk
//	questions.json                 the same as CheckRequests, for ghz --data-file
//	holdfast.protoset              holdfast.v1's descriptors, for ghz --protoset
//
// The Holdfast data directory is HOLDFAST_BENCH_DATA (see TestMain): this
// test fills it through the engine, so that a run that also compares in
// process fills the store once.
func TestServersPrepare(t *testing.T) {
	dir := os.Getenv("HOLDFAST_BENCH_PREP")
	if dir == "" {
		t.Skip("set HOLDFAST_BENCH_PREP=DIR (and HOLDFAST_BENCH_DATA=DIR/data) to write the servers' data")
	}
	if os.Getenv("HOLDFAST_BENCH_DATA") == "" {
		t.Fatal("HOLDFAST_BENCH_DATA is required: the directory holdfast serve will read")
	}
	holdfastEngine(t)
	if err := os.MkdirAll(filepath.Join(dir, "opa"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(opaData(dataSet()))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("opa/data.json", data)
	write("opa/check.rego", []byte(serverRego))

	var txt bytes.Buffer
	msgs := make([]map[string]string, 0, numServerQuestions)
	for _, q := range serverQuestions() {
		fmt.Fprintf(&txt, "%s %s\n", q.Account, q.Action)
		msgs = append(msgs, map[string]string{"account": q.Account, "action": string(q.Action)})
	}
	write("questions.txt", txt.Bytes())
	b, err := json.Marshal(msgs)
	if err != nil {
		t.Fatal(err)
	}
	write("questions.json", b)
	write("holdfast.protoset", protoset(t, holdfastv1.File_holdfast_v1_decision_proto))
	t.Logf("wrote %s: OPA data %d MB, %d questions", dir, len(data)>>20, numServerQuestions)
}

// protoset is fd and everything it imports as a FileDescriptorSet.
func protoset(tb testing.TB, fd protoreflect.FileDescriptor) []byte {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imps := fd.Imports()
		for i := range imps.Len() {
			add(imps.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(fd)
	b, err := proto.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// askOPAServer asks opa run --server for the effect.
func askOPAServer(c *http.Client, baseURL string, q question) (holdfast.Effect, error) {
	body, _ := json.Marshal(map[string]any{"input": map[string]string{"account": q.Account, "action": string(q.Action)}})
	res, err := c.Post(baseURL+"/v1/data/holdfast/effect", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var out struct {
		Result string `json:"result"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("opa: status %d, %v", res.StatusCode, err)
	}
	fx, ok := holdfast.ParseEffect(out.Result)
	if !ok {
		return 0, fmt.Errorf("opa: result %q", out.Result)
	}
	return fx, nil
}

// readQuestions reads n lines of questions.txt.
func readQuestions(tb testing.TB, path string, n int) []question {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var qs []question
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(qs) < n {
		acct, act, ok := strings.Cut(sc.Text(), " ")
		if !ok || !holdfast.Action(act).Valid() {
			tb.Fatalf("%s: bad line %q", path, sc.Text())
		}
		qs = append(qs, question{Account: acct, Action: holdfast.Action(act)})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return qs
}

// TestServersSameAnswers asks the running servers the first
// HOLDFAST_BENCH_SAME_N (default 2,000) questions of questions.txt —
// Holdfast over Connect JSON and over gRPC, OPA at /v1/data — and requires
// every answer to match a direct reading of the fixture, so that the load
// compares servers that agree. HOLDFAST_BENCH_SAME is
// "holdfastURL,token,opaURL"; HOLDFAST_BENCH_PREP the directory
// TestServersPrepare wrote.
func TestServersSameAnswers(t *testing.T) {
	spec := strings.Split(os.Getenv("HOLDFAST_BENCH_SAME"), ",")
	if len(spec) != 3 {
		t.Skip("set HOLDFAST_BENCH_SAME=holdfastURL,token,opaURL and HOLDFAST_BENCH_PREP=DIR")
	}
	hfURL, token, opaURL := spec[0], spec[1], spec[2]
	n := envInt("HOLDFAST_BENCH_SAME_N", 2_000)
	qs := readQuestions(t, filepath.Join(os.Getenv("HOLDFAST_BENCH_PREP"), "questions.txt"), n)
	if len(qs) < n {
		t.Fatalf("questions.txt holds %d questions, want %d", len(qs), n)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	jsonTarget := target{"holdfast", hfURL + "/holdfast.v1.DecisionService/Check", token}
	gc, err := client.New(client.Config{URL: hfURL, Token: token, HTTPClient: rpc.H2CClient(), Options: []connect.ClientOption{connect.WithGRPC()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var seen [3]int
	for _, q := range qs {
		want := reference(q, time.Now().Unix())
		hj, err := askEffect(hc, jsonTarget, q)
		if err != nil {
			t.Fatal(err)
		}
		res, err := gc.Check(ctx, &holdfastv1.CheckRequest{Account: q.Account, Action: string(q.Action)})
		if err != nil {
			t.Fatalf("holdfast gRPC: %v", err)
		}
		hg, ok := holdfast.ParseEffect(res.GetEffect())
		if !ok {
			t.Fatalf("holdfast gRPC: effect %q", res.GetEffect())
		}
		ox, err := askOPAServer(hc, opaURL, q)
		if err != nil {
			t.Fatal(err)
		}
		if hj != want || hg != want || ox != want {
			t.Fatalf("%s %s: the data says %s; holdfast JSON %s, holdfast gRPC %s, OPA %s", q.Account, q.Action, want, hj, hg, ox)
		}
		seen[want]++
	}
	if seen[holdfast.Allow] == 0 || seen[holdfast.Deny] == 0 {
		t.Fatalf("the sample should hold allows and denials: %v", seen)
	}
	fmt.Printf("same verdicts from holdfast (JSON and gRPC) and OPA on %d questions: %d allow, %d review, %d deny\n",
		len(qs), seen[holdfast.Allow], seen[holdfast.Review], seen[holdfast.Deny])
}

// benchCPUs is HOLDFAST_BENCH_CPUS ("1 2 4" or "1,2,4"; default 1 and
// every power of two up to the number of CPUs, and that number).
func benchCPUs(tb testing.TB) []int {
	var out []int
	for f := range strings.FieldsFuncSeq(os.Getenv("HOLDFAST_BENCH_CPUS"), func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			tb.Fatalf("HOLDFAST_BENCH_CPUS: %q is not a positive number", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		for n := 1; n < runtime.NumCPU(); n *= 2 {
			out = append(out, n)
		}
		out = append(out, runtime.NumCPU())
	}
	return out
}

// BenchmarkCheckParallel: checks from GOMAXPROCS goroutines at once
// (b.RunParallel), with GOMAXPROCS set to each value of
// HOLDFAST_BENCH_CPUS in turn, over the servers' mix of questions (half
// over every account, half over restricted ones); Holdfast through
// CheckInto with one cause buffer per goroutine, OPA through the prepared
// query. The parent prints one "scaling" line per value: checks per
// second for each engine.
func BenchmarkCheckParallel(b *testing.B) {
	h, o := holdfastEngine(b), opaFixture(b)
	qs := serverQuestions()
	ctx := context.Background()
	engines := []struct {
		name string
		run  func(q question, buf []holdfast.Cause)
	}{
		{"holdfast", func(q question, buf []holdfast.Cause) { h.effect(q, buf) }},
		{"opa", func(q question, _ []holdfast.Cause) {
			if _, err := o.effect(ctx, q); err != nil {
				panic(err)
			}
		}},
	}
	for _, procs := range benchCPUs(b) {
		rate := map[string]float64{}
		for _, e := range engines {
			b.Run(fmt.Sprintf("procs=%d/%s", procs, e.name), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					buf := make([]holdfast.Cause, 0, 8)
					i := rand.IntN(len(qs))
					for pb.Next() {
						e.run(qs[i%len(qs)], buf)
						i++
					}
				})
				rate[e.name] = float64(b.N) / b.Elapsed().Seconds()
			})
		}
		if rate["holdfast"] > 0 && rate["opa"] > 0 {
			// Parsed by bench/compare.sh; b.Log of a parent is shown only with -v.
			fmt.Printf("scaling in-process GOMAXPROCS=%d holdfast %.0f opa %.0f checks/s\n", procs, rate["holdfast"], rate["opa"])
		}
	}
}
