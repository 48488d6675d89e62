// Package bench compares Holdfast's decision path with general-purpose
// policy engines (OPA/Rego and Casbin) over the same restrictions, in
// process and over loopback HTTP. It is a separate module so that the
// product never depends on the comparators; everything lives in its tests:
//
//	cd bench && go test -run '^$' -bench . -benchmem -benchtime 2s .
//	cd bench && go test -run 'TestCrossCheck|TestRatios' -v .
//	cd bench && HOLDFAST_BENCH_NET=1 go test -run TestNetwork -v .
//
// make bench-compare (compare.sh) runs them as one report: the in-process
// ratios, BenchmarkCheck, and BenchmarkCheckParallel at each GOMAXPROCS of
// CPUS (default 1, 2, 4 … up to the CPUs). NET=1 adds TestNetwork and the
// servers as deployed: holdfast serve beside OPA's own server (opa run
// --server, built from the OPA module go.mod requires, go.mod's tool
// directive), which serves serverRego over the same fixture (a data file
// written by TestServersPrepare). Both must give the verdicts of a direct
// reading of the data on 2,000 questions (TestServersSameAnswers), then
// wrk (questions.lua: OPA's /v1/data and Holdfast's Connect JSON Check)
// and ghz (Holdfast's gRPC Check) load each at 32 and 128 connections,
// and again with each server pinned to N CPUs with GOMAXPROCS=N:
//
//	make bench-compare                          # in process, a few minutes
//	make bench-compare NET=1                    # everything, 4-12 minutes on 2 cores
//	make bench-compare NET=1 CPUS="1 2" SECS=10
//	make bench-kit KIT=/tmp/kit                 # prebuilt, for a machine without Go:
//	NET=1 CPUS="1 2 4 8 16" /tmp/kit/compare.sh # there (needs wrk and taskset)
//
// As an Envoy ext_authz service, Holdfast is compared with an OPA server
// doing what OPA's Envoy plugin does (extauthz_test.go: grpc-go with the
// go-control-plane types, a prepared Rego query over the default policy's
// gateway routes and the same restrictions), both loaded with ghz
// (go install github.com/bojand/ghz/cmd/ghz@v0.93.0; jq and curl too).
// The script fills a Holdfast data directory with the fixture, serves it,
// starts the OPA server, requires the same verdicts from both on 2,000
// requests, then runs ghz against each at -c 32 and 128 for SECS seconds:
//
//	bench/extauthz.sh                           # SECS=15 CONCS="32 128" CONNS=1
//	SECS=5 CONCS=32 bench/extauthz.sh           # a short run
//	ONLY=opa bench/extauthz.sh                  # the OPA server alone
//	cd bench && go test -run 'TestOPAExtAuthz$' -v .   # its answers over gRPC
//
// The OPA server alone, on an address of your choice, and its data:
//
//	cd bench && HOLDFAST_BENCH_EXTAUTHZ=127.0.0.1:7496 HOLDFAST_BENCH_EXTAUTHZ_TOKEN=secret \
//		go test -run TestOPAExtAuthzServer -timeout 0 .
//	cd bench && HOLDFAST_BENCH_EXTAUTHZ_PREP=/tmp/x go test -run TestExtAuthzPrepare -v .
package bench
