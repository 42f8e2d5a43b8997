# mcpbox — one non-recursive Makefile.
#   make          build build/mcpbox
#   make deps     install every Debian and npm package the build, runtime and tests need
#   make test     deps + build + every test (unit, end-to-end as root and as an unprivileged user)
#   make asan     the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench    benchmarks; writes docs/benchmarks.md
#   make run      build deps + build + start the server (LISTEN=host:port, DATA=dir)

CC      ?= cc
BUILD   ?= build
# The binary links CORE_PKGS only; libgit2 and libvncserver (and the ~40 libraries
# they pull in) live in modules loaded on first use (server/base/module.h).
CORE_PKGS := libuv jansson libseccomp sqlite3 libcrypto libsodium libwebsockets \
           xcb xcb-damage xcb-xfixes xcb-xtest x11 libpng libturbojpeg zlib vterm libzmq
PKGS    := $(CORE_PKGS) libgit2 libvncserver
OPT     ?= -O2 -g
CFLAGS  := $(OPT) -std=gnu11 -MMD -MP -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Wno-unused-parameter -D_GNU_SOURCE \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(CORE_PKGS) 2>/dev/null) -lpthread -ldl

# modules: name, sources, libraries
MOD_snapshot := sessions/snapshot_store.c sessions/snapshot_write.c sessions/snapshot_read.c sessions/snapshot_blob.c
MOD_rfb      := vnc/rfb.c
MODLIBS_snapshot := $(shell pkg-config --libs libgit2 libcrypto 2>/dev/null)
MODLIBS_rfb      := $(shell pkg-config --libs libvncserver 2>/dev/null)
MODULES  := snapshot rfb
MOD_SRC  := $(foreach m,$(MODULES),$(MOD_$(m)))
MOD_OBJ  := $(MOD_SRC:%.c=$(BUILD)/pic/%.o)
MOD_SO   := $(MODULES:%=$(BUILD)/mcpbox-%.so)

SRC      := $(filter-out $(MOD_SRC),$(wildcard server/*.c server/base/*.c server/rest/*.c transport/*.c tools/*.c sessions/*.c vnc/*.c proxy/*.c kernel/*.c fixtures/*.c))
OBJ      := $(SRC:%.c=$(BUILD)/obj/%.o)
LIBOBJ   := $(filter-out $(BUILD)/obj/server/main.o,$(OBJ))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# what building and running mcpbox needs (make run) ...
RUN_PKGS := build-essential pkg-config libuv1-dev libjansson-dev libseccomp-dev libsqlite3-dev libssl-dev libsodium-dev \
            libwebsockets-dev libwebsockets-evlib-uv \
            xvfb x11-xkb-utils xkb-data jwm xterm xfonts-base fonts-dejavu-core libx11-dev libxcb1-dev libxcb-damage0-dev libxcb-xfixes0-dev libxcb-xtest0-dev \
            libxtst-dev libxdamage-dev libxfixes-dev libpng-dev libturbojpeg0-dev libvncserver-dev novnc \
            libvterm-dev libjs-xterm node-xterm \
            python3 nodejs bash coreutils g++ golang-go rustc default-jdk-headless ruby node-typescript util-linux libgit2-dev slirp4netns libnftables1 \
            libzmq3-dev python3-ipykernel python3-matplotlib
# ... and what the tests and benchmarks add (make test, make bench)
DEB_PKGS := $(RUN_PKGS) x11-apps x11-utils vncsnapshot chromium scrot imagemagick x11vnc \
            clang bubblewrap procps iproute2 hyperfine wrk git nftables \
            python3-httpx python3-aiohttp python3-jupyter-client python3-requests \
            curl jq btrfs-progs

# make run: where it listens and keeps its data
LISTEN  ?= 127.0.0.1:8080
DATA    ?= ./data

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 5
FUZZ_OBJ := server/jwt.c server/rest/fastapi.c server/rest/multipart.c server/base/rpc.c server/base/json_out.c server/base/offload.c server/base/buf.c server/base/common.c server/base/err.c server/base/log.c sessions/workspace.c sessions/btrfs.c vnc/chan.c kernel/chan.c transport/route.c transport/chunked.c proxy/http1.c transport/wsframe.c server/base/base64.c

.PHONY: all deps deps-run test unit e2e fuzz asan bench run clean
all: $(BUILD)/mcpbox $(MOD_SO)

# -rdynamic: the modules call the binary's own functions (log, err, buf, ...)
$(BUILD)/mcpbox: $(OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# the files kernel/embed.c builds in (.incbin: the compiler's dependency lists miss them)
$(BUILD)/obj/kernel/embed.o: kernel/kernel_tune.py kernel/wrap_kernel.py kernel/node_driver.js kernel/shell_driver.sh

# module objects: position independent, nothing exported but the module's table
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(foreach m,$(MODULES),$(eval MODOBJ_$(m) := $(MOD_$(m):%.c=$(BUILD)/pic/%.o)))
.SECONDARY: $(MOD_OBJ)
.SECONDEXPANSION:
$(BUILD)/mcpbox-%.so: $$(MODOBJ_$$*)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $^ $(MODLIBS_$*)

# unit tests link the modules' objects in (server/module.h finds the tables in the program)
$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJ) $(MOD_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -rdynamic -I. -o $@ $(filter %.c %.o,$^) $(LDLIBS) $(foreach m,$(MODULES),$(MODLIBS_$(m)))

# benchmark programs linked like the unit tests (tests/bench/snapshot_bench.sh)
$(BUILD)/bench/%: tests/bench/%.c $(LIBOBJ) $(MOD_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -rdynamic -I. -o $@ $(filter %.c %.o,$^) $(LDLIBS) $(foreach m,$(MODULES),$(MODLIBS_$(m)))

# libFuzzer targets for the parsers that read bytes from outside (clang)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined $(shell pkg-config --cflags $(PKGS)) \
	  -o $@ $^ $(shell pkg-config --libs libuv jansson libcrypto)

fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do echo "# $$f ($(FUZZ_SECONDS) s)"; \
	  if ! $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$(BUILD)/fuzz/ >$$f.log 2>&1; then \
	    tail -40 $$f.log; exit 1; fi; tail -1 $$f.log; done

deps:
	@./tests/deps.sh $(DEB_PKGS)

deps-run:
	@DEPS_NO_NPM=1 ./tests/deps.sh $(RUN_PKGS)

# a static program test_sandbox runs inside sandboxes as hostile code (no
# sanitizers: they cannot link statically, and it is not the code under test)
$(BUILD)/tests/probe: tests/unit/probe.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -static -o $@ $<

unit: $(UNIT_BIN) $(BUILD)/tests/probe
	@./tests/layers.sh
	@set -e; for t in $(UNIT_BIN); do echo "# $$t"; $$t; done
	@if [ "$$(id -u)" -eq 0 ]; then echo "# $(BUILD)/tests/test_sandbox as uid 65534"; \
	  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp $(BUILD)/tests/test_sandbox; \
	  echo "# $(BUILD)/tests/test_snapshot as uid 65534"; \
	  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp $(BUILD)/tests/test_snapshot; fi

e2e: $(BUILD)/mcpbox
	@./tests/e2e/run.sh $(BUILD)/mcpbox
	@./tests/conformance/run.sh $(BUILD)/mcpbox

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory e2e

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" all unit
	@# reports go to files too: a server that leaks at exit fails no test by itself
	@rm -rf build/asan/reports && mkdir -p build/asan/reports && chmod 1777 build/asan/reports
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/build/asan/reports/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/build/asan/reports/ubsan \
	  E2E_TEST_TIMEOUT_MS=900000 E2E_PASS_TIMEOUT_S=5400 $(MAKE) --no-print-directory BUILD=build/asan e2e; \
	  rc=$$?; if [ -n "$$(ls build/asan/reports)" ]; then \
	    echo "asan: sanitizer reports of programs the tests ran:"; head -n 40 build/asan/reports/*; exit 1; fi; exit $$rc

bench: deps all
	@./tests/bench/run.sh $(BUILD)/mcpbox

run: deps-run
	@$(MAKE) --no-print-directory all
	@./tests/run-hint.sh $(BUILD)/mcpbox $(LISTEN) $(DATA)
	@exec $(BUILD)/mcpbox serve --listen $(LISTEN) --data $(DATA)

clean:
	rm -rf $(BUILD)

-include $(OBJ:.o=.d) $(MOD_OBJ:.o=.d) $(UNIT_BIN:%=%.d)
