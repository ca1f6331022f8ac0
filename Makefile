# jrn: one build for everything. See README.md.
#
#   make            build every tool into $(BUILD)/bin
#   make deps       install the Debian packages that are missing (root)
#   make check      unit tests and Bats tests; ends with "N passed, N failed"
#   make asan       the same suite built with AddressSanitizer + UBSan
#   make demo       the three flows (ingest, nightly, hourly, real time) on the
#                   shipped slice of Online Retail, in build/demo (examples/demo.sh)
#   make bench      generated data, jrn beside jq and sqlite3, with ratios; the
#                   1M/3M/10M load curve (BENCH_CURVE=: skipped)
#   make bench-merge  jrn-merge --all beside the same join in sqlite3; jrn-merge
#                   with four http sources beside one curl per request
#   make bench-ai   jrn-ai's rules model: state, optimize and cache hits per
#                   second over 100k generated profiles (t/bench/ai.sh)
#   make bench-route  jrn-route's gate decisions per second (1M actions), --tick
#                   (1M enrollments, 10k due), --simulate (1M events)
#   make bench-retail RETAIL=FILE  the UCI Online Retail year (FILE: its CSV,
#                   .gz or not; examples/retail/README.md) converted, ingested,
#                   replayed night by night, RFM and BG/NBD checked (t/bench/retail.sh)
#   make bench-report  jrn-report metrics over 10M events and 1M deliveries
#                   beside the same statement in sqlite3 (t/bench/report.sh)
#   make bench-ai-openai  jrn-ai's openai model: requests/s against the local
#                   recorder, 32 in flight, and cache hits over tiny and over
#                   real profiles (t/bench/ai-openai.sh)
#   make bench-cluster  jrn-ingest --publish into a 3-node JetStream cluster on
#                   127.0.0.1 at R3 and R1, --from beside ingest of the file
#                   (t/bench/cluster.sh)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (60) each; fuzz-TARGET one
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
CC       ?= cc
CXX      ?= c++
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CXXFLAGS ?= $(OPT) -g
SAN      ?=
ALL_CFLAGS   = -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -pthread -Ilib -I$(BUILD) $(SAN) $(CFLAGS) $(CPPFLAGS)
ALL_CXXFLAGS = -std=gnu++17 -Wall -Wextra -Ilib $(SAN) $(CXXFLAGS) $(CPPFLAGS)
LIBS     = -ljq -lcurl -lsqlite3 -lyaml -lcrypto -lphonenumber -lpcre2-8 -lpthread -lm
# jrn-ingest --listen: libmicrohttpd (with GnuTLS for ingest.listen.tls)
LIBS    += -lmicrohttpd
# jrn-ingest --publish/--from: NATS JetStream's C client (libnats-dev 3.4.1)
LIBS    += $(shell pkg-config --libs libnats 2>/dev/null || echo -lnats)
ALL_LDFLAGS  = -pthread $(SAN) $(LDFLAGS)

# A tool is cmd/NAME.c, or a folder cmd/NAME/ of .c files (main.c and its
# parts, with a private NAME.h). Both shapes build with the rules below.
FILE_TOOLS   = $(patsubst cmd/%.c,%,$(wildcard cmd/*.c))
FOLDER_TOOLS = $(patsubst cmd/%/main.c,%,$(wildcard cmd/*/main.c))
TOOLS    = $(FILE_TOOLS) $(FOLDER_TOOLS)
tool_objs = $(if $(wildcard cmd/$(1)/main.c),$(patsubst cmd/%.c,$(BUILD)/cmd/%.o,$(wildcard cmd/$(1)/*.c)),$(BUILD)/cmd/$(1).o) $(tool_extra_$(1))
# A tool's objects from another tool's folder (linked, not copied): jrn-ai
# eval fits jrn-score clv's BG/NBD with its clv-math.c.
tool_extra_jrn-ai = $(BUILD)/cmd/jrn-score/clv-math.o
LIB_C    = $(wildcard lib/*.c)
LIB_CXX  = $(wildcard lib/*.cc)
LIB_OBJ  = $(LIB_C:lib/%.c=$(BUILD)/lib/%.o) $(LIB_CXX:lib/%.cc=$(BUILD)/lib/%.o)
UNIT_SRC = $(wildcard t/unit/*.c)
UNITS    = $(UNIT_SRC:t/unit/%.c=$(BUILD)/unit/%)
BINS     = $(TOOLS:%=$(BUILD)/bin/%)
DEPFLAGS = -MMD -MP

# Debian packages: building, testing, benchmarking.
# Test peers (t/peers.bash): postfix for smtp-sink (installed unconfigured,
# see t/deps.sh), python3-httpbin, openssl and curl CLIs, and node + npm
# (Debian's only when no node is on PATH) for t/peers/package-lock.json.
DEB_PKGS = gcc g++ make pkg-config libjq-dev jq libcurl4-openssl-dev \
	   libsqlite3-dev sqlite3 libyaml-dev libssl-dev libphonenumber-dev libpcre2-dev \
	   json-schema-test-suite libmicrohttpd-dev libgnutls28-dev \
	   bats bats-assert bats-support time bc zsh groff valgrind \
	   postfix python3-httpbin openssl curl clang libclang-rt-14-dev \
	   chromium wrk python3-scipy miller \
	   $(if $(shell command -v node),,nodejs npm)
# jrn-report --format html's pages are checked by HTML Tidy (t/jrn-report-html.bats).
DEB_PKGS += tidy
DEB_PKGS += nats-server libnats-dev kcat librdkafka-dev

.PHONY: all deps check unit bats asan demo bench bench-send bench-merge bench-retail bench-route bench-ai bench-ai-openai bench-listen bench-report install clean fuzz fuzz-bins

all: $(BINS)

# Every object records the headers it read (-MMD -MP, the .d files beside
# it), so a change to a tool's private header rebuilds only that tool.
$(BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/lib/%.o: lib/%.cc
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/cmd/%.o: cmd/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/libjrn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# One rule for both shapes of tool: its objects and the library.
.SECONDEXPANSION:
.SECONDARY:
$(BUILD)/bin/%: $$(call tool_objs,$$*) $(BUILD)/libjrn.a
	@mkdir -p $(@D)
	$(CXX) $(ALL_LDFLAGS) -o $@ $(call tool_objs,$*) $(BUILD)/libjrn.a $(LIBS)

$(BUILD)/cmd/jrn/init.o: $(BUILD)/starter.h
$(BUILD)/starter.h: share/jrn/jrn.yaml t/embed.sh
	@mkdir -p $(@D)
	sh t/embed.sh starter_yaml share/jrn/jrn.yaml > $@

# A unit test t/unit/NAME.c links the library; one named after a folder
# tool's part, t/unit/TOOL-PART.c (e.g. jrn-score-clv.c), also links that
# tool's objects except main.o, so a tool's pure parts are tested directly.
unit_tool = $(firstword $(foreach t,$(FOLDER_TOOLS),$(if $(filter $(t)-%,$(1)),$(t))))
unit_objs = $(if $(call unit_tool,$(1)),$(filter-out %/main.o,$(call tool_objs,$(call unit_tool,$(1)))))
$(BUILD)/unit/%: t/unit/%.c $$(call unit_objs,$$*) $(BUILD)/libjrn.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(if $(call unit_tool,$*),-Icmd/$(call unit_tool,$*)) -It/unit -MT $@ -c -o $@.o $<
	$(CXX) $(ALL_LDFLAGS) -o $@ $@.o $(call unit_objs,$*) $(BUILD)/libjrn.a $(LIBS)

$(BUILD)/mustache-render: t/mustache-render.c $(BUILD)/libjrn.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -MT $@ -c -o $@.o $<
	$(CXX) $(ALL_LDFLAGS) -o $@ $@.o $(BUILD)/libjrn.a $(LIBS)

$(BUILD)/jrn-gen: t/bench/gen.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -o $@ $< -lm

# Fuzzing (fuzz/README.md): the library built again with clang under
# libFuzzer's coverage, ASan and UBSan into $(FUZZ_BUILD), one harness per
# target fuzz/TARGET.c, each run for FUZZ_SECONDS over a copy of its seed
# corpus (fuzz/corpus/TARGET is never written) with its dictionary. Any
# crash, leak, timeout or oracle failure fails the run; fuzz/run.sh prints
# one line per target (executions, exec/s, cov:, ft:). The mustache target
# runs last.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS  = json ndjson yaml config rules eval time mime email sms mustache
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_MAKE     = $(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang CXX=clang++ OPT=-O1 \
		SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)"

fuzz: deps
	@$(FUZZ_MAKE) fuzz-bins
	@sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-%: deps
	@$(FUZZ_MAKE) $(FUZZ_BUILD)/fuzz/$*
	@sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $*

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: fuzz/%.c fuzz/fuzz.h $(BUILD)/libjrn.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -Ifuzz -MT $@ -c -o $@.o $<
	$(CXX) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $@.o $(BUILD)/libjrn.a $(LIBS)

deps:
	@sh t/deps.sh $(DEB_PKGS)
	@sh t/deps.sh --npm t/peers

# The whole suite: C unit tests (TAP) and Bats files (TAP), counted into
# one closing line. Exit status 1 when anything failed.
check: deps
	@$(MAKE) --no-print-directory all $(UNITS) $(BUILD)/jrn-gen $(BUILD)/mustache-render
	@JRN_BIN=$(CURDIR)/$(BUILD)/bin JRN_GEN=$(CURDIR)/$(BUILD)/jrn-gen \
		JRN_MUSTACHE=$(CURDIR)/$(BUILD)/mustache-render JRN_SANITIZED=$(if $(SAN),1,) \
		sh t/run.sh $(UNITS)

asan:
	@$(MAKE) --no-print-directory check BUILD=build-asan OPT=-O1 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

demo: deps all
	@bash examples/demo.sh $(BUILD)/bin

bench: deps all $(BUILD)/jrn-gen
	@bash t/bench/bench.sh $(BUILD)/bin $(BUILD)/jrn-gen
	@bash t/bench/ai.sh $(BUILD)/bin $(BUILD)/jrn-gen
	@bash t/bench/listen.sh $(BUILD)/bin
	@bash t/bench/report.sh $(BUILD)/bin

# jrn-ingest --listen under wrk on loopback (bounded in time)
bench-listen: deps all
	@bash t/bench/listen.sh $(BUILD)/bin

bench-send: deps all
	@bash t/bench/send.sh $(BUILD)/bin

bench-merge: deps all $(BUILD)/jrn-gen
	@bash t/bench/merge.sh $(BUILD)/bin $(BUILD)/jrn-gen
	@bash t/bench/merge-http.sh $(BUILD)/bin

bench-ai: deps all $(BUILD)/jrn-gen
	@bash t/bench/ai.sh $(BUILD)/bin $(BUILD)/jrn-gen

# jrn on a three-node NATS JetStream cluster on loopback (issue 17)
.PHONY: bench-cluster
bench-cluster: deps all $(BUILD)/jrn-gen
	@bash t/bench/cluster.sh $(BUILD)/bin $(BUILD)/jrn-gen

bench-retail: deps all
	@test -n "$(RETAIL)" || { echo "make bench-retail RETAIL=path/to/online_retail.csv.gz (see examples/retail/README.md)" >&2; exit 2; }
	@bash t/bench/retail.sh $(BUILD)/bin "$(RETAIL)"

bench-route: deps all $(BUILD)/jrn-gen
	@bash t/bench/route.sh $(BUILD)/bin $(BUILD)/jrn-gen

# jrn-ai's openai model against the local recorder, 32 in flight
bench-ai-openai: deps all $(BUILD)/jrn-gen
	@bash t/bench/ai-openai.sh $(BUILD)/bin $(BUILD)/jrn-gen

bench-report: deps all
	@bash t/bench/report.sh $(BUILD)/bin

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 \
		$(DESTDIR)$(PREFIX)/share/jrn \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/vendor-completions
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/
	cp -R share/jrn/. $(DESTDIR)$(PREFIX)/share/jrn/
	for t in $(TOOLS); do f=completions/$$t.bash; [ -e $$f ] || f=completions/jrn.bash; \
		install -m 644 $$f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$t; done
	install -m 644 completions/_jrn $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# t/unit/partition.c checks jrn_partition_of against librdkafka's own
# murmur2 partitioner (issue 17): only that test links it.
$(BUILD)/unit/partition: LIBS += -lrdkafka
