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

fuzz:
	go test ./crypt -run '^$$' -fuzz FuzzOpenRecord -fuzztime $(FUZZTIME)
	go test ./crypt -run '^$$' -fuzz FuzzUnwrapKey -fuzztime $(FUZZTIME)
	go test ./crypt -run '^$$' -fuzz FuzzStreamReader -fuzztime $(FUZZTIME)
