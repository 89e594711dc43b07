# natp2p: see README.md. Every target runs from a fresh clone.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
AGENT    := bin/natp2p-agent
INTRODUCER := bin/natp2p-introducer
ICEPEER  := bin/icepeer
NAT      ?= masquerade
BACKEND  ?= nftables
MODE     ?= observe
WAN      ?= reject
FUZZTIME ?= 30s
P2P      ?=

.PHONY: build deps demo test test-cross cross ipk test-openwrt sdk bench fuzz clean

## build: natp2p-agent and natp2p-introducer for this machine (static, stripped)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(AGENT) ./cmd/natp2p-agent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(INTRODUCER) ./cmd/natp2p-introducer

## deps: install the Debian packages the lab needs (iproute2, nftables, iptables, conntrack)
deps:
	sh scripts/deps.sh

## demo: a throwaway netns lab with a real NAT, some traffic, natp2p-agent report (root; MODE=enforce to enforce;
##       WAN=reject (default, as OpenWrt), drop, prohibit or open: the router's filter of new WAN connections)
##       P2P=1: two fully-random NATs and an ICE session (pion/ice) between them, relayed vs direct before and after enforce mode
demo: deps build
ifeq ($(P2P),1)
	cd e2e && $(GO) build -o ../$(ICEPEER) ./cmd/icepeer
	cd e2e && $(GO) run ./cmd/natp2p-p2pdemo --agent ../$(AGENT) --introducer ../$(INTRODUCER) --peer ../$(ICEPEER) --backend $(BACKEND)
else
	$(GO) run ./internal/cmd/natp2p-lab demo --agent $(AGENT) --introducer $(INTRODUCER) --nat $(NAT) --backend $(BACKEND) --mode $(MODE) --wan-filter $(WAN)
endif

## test: the whole suite, lab tests included when root
test: deps
	sh scripts/test.sh

## test-cross: unit tests of the kernel-free packages under qemu-user (mips, arm)
test-cross: deps
	sh scripts/test-cross.sh | $(GO) run ./internal/cmd/testsummary

## cross: natp2p-agent for every router target into dist/, with a size table and budget
cross:
	sh cross/build.sh

## ipk: .ipk packages for OpenWrt 24.10 and older into dist/ (after cross)
ipk: cross
	sh cross/ipk.sh

## test-openwrt: opt-in: install and run the x86_64 package in an OpenWrt root (OPENWRT_ROOTFS=DIR, untouched;
##       root): procd, hotplug, reload_config, fw4, cleanup, opkg remove, logread. Says so when it did not run.
test-openwrt:
	sh scripts/test-openwrt.sh "$(OPENWRT_ROOTFS)"

## sdk: opt-in: build the feed in an OpenWrt SDK or buildroot (OPENWRT_SDK=DIR, changed: feed added) both ways,
##       and check the package against make ipk's. Says so when it did not run.
sdk:
	sh scripts/sdk.sh "$(OPENWRT_SDK)"

## bench: micro-benchmarks, the flood next to conntrack -E, probe time and introducer rate next to coturn's, enforce mode, a simulated fleet against Prometheus and victoria-metrics (root)
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./conntrackmap
	$(GO) run ./internal/cmd/natp2p-lab bench --agent $(AGENT)
	$(GO) run ./internal/cmd/natp2p-lab bench-probe --agent $(AGENT) --runs 11
	$(GO) run ./internal/cmd/natp2p-lab bench-introducer --agent $(AGENT) --introducer $(INTRODUCER) --runs 3
	$(GO) run ./internal/cmd/natp2p-lab bench-enforce --agent $(AGENT) --runs 3
	$(GO) run ./internal/cmd/natp2p-lab bench-fleet --agent $(AGENT) --routers 100,500

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzTableMatchesModel -fuzztime $(FUZZTIME) ./conntrackmap
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/uci
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./probe/stun
	$(GO) test -run '^$$' -fuzz FuzzAddress -fuzztime $(FUZZTIME) ./probe/stun
	$(GO) test -run '^$$' -fuzz FuzzServeRequest -fuzztime $(FUZZTIME) ./probe/introducer
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/httpd
	$(GO) test -run '^$$' -fuzz FuzzServeConn -fuzztime $(FUZZTIME) ./internal/httpd

clean:
	rm -rf bin dist
