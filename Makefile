# certflow — see README.md.
GO      ?= go
BIN     := bin
FUNCS   := deployer binder checker
export CGO_ENABLED := 0

.PHONY: all build functions test vet fuzz bench faults demo clean

all: build

build: functions
	$(GO) build -o $(BIN)/certflow ./cmd/certflow

# Function binaries exactly as FC runs them: linux/amd64, static.
functions:
	@for f in $(FUNCS); do \
		[ -d functions/$$f ] && ls functions/$$f/*.go >/dev/null 2>&1 || continue; \
		GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/$$f/main ./functions/$$f || exit 1; \
	done

vet:
	$(GO) vet ./...

test: vet
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

clean:
	rm -rf $(BIN)
