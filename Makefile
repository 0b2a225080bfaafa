# keyward: make build | make test | make bench | make lint | make fuzz
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 30s

.PHONY: build test bench lint fuzz

build:
	go build -o keyward ./cmd/keyward

# The second line runs bench/entries' tests in the pass-through build too:
# they check that the benchmark's two kinds of deployment are what they say.
test:
	go test -race -count=1 ./...
	go test -count=1 -tags keyward_insecure_passthrough ./bench/entries

lint:
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

bench:
	go run ./bench/cmd/kwbench

# Every fuzz target in the repository, FUZZTIME each: the packages are
# those with a test file declaring a Fuzz function, the targets what
# `go test -list` finds in them.
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for t in $$(go test $$dir -list '^Fuzz' | grep '^Fuzz'); do \
			echo "go test $$dir -fuzz ^$$t\$$ -fuzztime $(FUZZTIME)"; \
			go test $$dir -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME); \
		done; \
	done
