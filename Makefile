# The index of what a developer can do.
.PHONY: run test bench bench-compare bench-kit lint proto generate scenarios tools

run:
	go run ./cmd/holdfast serve

test:
	go test ./...

bench:
	go test -run '^$$' -bench . -benchmem ./engine/ ./sqlite/

# Holdfast against OPA and Casbin on the same data (a separate module, bench/,
# so the product never depends on them): in-process ratios and scaling with
# GOMAXPROCS; NET=1 adds the servers (holdfast serve, opa run --server) under
# wrk and ghz on loopback. CPUS="1 2 4" chooses the scaling points, SECS the
# seconds per point. bench-kit builds the same run, prebuilt, for a machine
# without Go (KIT=dir; also dir.tar.gz). See docs/performance.md.
NET ?=
CPUS ?=
SECS ?=
KIT ?= $(CURDIR)/bench-kit
bench-compare:
	NET="$(NET)" CPUS="$(CPUS)" SECS="$(SECS)" bench/compare.sh

bench-kit:
	bench/kit.sh "$(KIT)"

lint:
	gofmt -l . | (! grep .)
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

scenarios:
	go run ./cmd/holdfast simulate testdata/scenarios

# buf and the two code generators, at the versions go.mod pins (buf's own
# is pinned here), in ./.bin so that nothing outside the checkout changes.
BIN := $(CURDIR)/.bin
tools:
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@v1.75.0
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go connectrpc.com/connect/cmd/protoc-gen-connect-go

generate: tools
	PATH="$(BIN):$$PATH" buf generate

# The API schema lints clean and gen/ is exactly what proto/ generates.
proto: tools
	PATH="$(BIN):$$PATH" buf lint
	@tmp=$$(mktemp -d) && PATH="$(BIN):$$PATH" buf generate -o $$tmp && \
	  if diff -r gen $$tmp/gen; then rm -rf $$tmp; else rm -rf $$tmp; echo "gen/ differs from what proto/ generates: run make generate"; exit 1; fi
