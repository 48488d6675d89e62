# The index of what a developer can do.
.PHONY: run test bench lint generate scenarios

run:
	go run ./cmd/holdfast serve

test:
	go test ./...

bench:
	go test -run '^$$' -bench . -benchmem ./engine/ ./sqlite/

lint:
	gofmt -l . | (! grep .)
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

scenarios:
	go run ./cmd/holdfast simulate testdata/scenarios

generate:
	PATH="$$(go env GOPATH)/bin:$$PATH" buf generate
