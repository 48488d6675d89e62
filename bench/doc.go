// Package bench compares Holdfast's decision path with general-purpose
// policy engines (OPA/Rego and Casbin) over the same restrictions, in
// process and over loopback HTTP. It is a separate module so that the
// product never depends on the comparators; everything lives in its tests:
//
//	cd bench && go test -run '^$' -bench . -benchmem -benchtime 2s .
//	cd bench && go test -run 'TestCrossCheck|TestRatios' -v .
//	cd bench && HOLDFAST_BENCH_NET=1 go test -run TestNetwork -v .
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
