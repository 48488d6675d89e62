# The index of what a developer can do.
.PHONY: run test bench bench-compare lint generate scenarios

run:
	go run ./cmd/holdfast serve

test:
	go test ./...

bench:
	go test -run '^$$' -bench . -benchmem ./engine/ ./sqlite/

# Holdfast against OPA and Casbin on the same data (a separate module, bench/,
# so the product never depends on them). Over HTTP: HOLDFAST_BENCH_NET=1
# go test -run TestNetwork -v . in bench/.
bench-compare:
	cd bench && go test -run '^$$' -bench . -benchmem -benchtime 2s .

lint:
	gofmt -l . | (! grep .)
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

scenarios:
	go run ./cmd/holdfast simulate testdata/scenarios

generate:
	PATH="$$(go env GOPATH)/bin:$$PATH" buf generate
