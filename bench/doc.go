// Package bench compares Holdfast's decision path with general-purpose
// policy engines (OPA/Rego and Casbin) over the same restrictions, in
// process and over loopback HTTP. It is a separate module so that the
// product never depends on the comparators; everything lives in its tests:
//
//	cd bench && go test -run '^$' -bench . -benchmem -benchtime 2s .
//	cd bench && go test -run 'TestCrossCheck|TestRatios' -v .
//	cd bench && HOLDFAST_BENCH_NET=1 go test -run TestNetwork -v .
package bench
