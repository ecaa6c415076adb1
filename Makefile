# contigd - physically contiguous DMA memory for user-space drivers.
#
#   make            build build/contigd, build/contigctl, build/libcontig.{a,so}
#   make deps       install missing packages (as root; otherwise the exact
#                   apt-get line); OPTIONAL=1 also those of the tests that
#                   skip without them (CI). The only target that installs:
#                   run, test, bench call it, and no test reaches the network
#   make run        deps, build, run the daemon with the built-in
#                   configuration in the foreground
#   make test       deps, build, run every test under prove (needs root and
#                   hugepages: HACKING.md)
#   make test-chroot the same in a fresh Debian chroot (docs/testing.md)
#   make install    PREFIX=/usr/local DESTDIR= (and the directories below)
#   make uninstall  the same variables: removes what install put there
#   make clean

# Install directories. For PREFIX=/usr (a distribution package) the
# configuration goes to /etc and the units to /lib/systemd/system (Debian
# 12's systemdsystemunitdir); for any other prefix, under the prefix
# (systemd also reads /usr/local/lib/systemd/system and
# /usr/local/lib/sysusers.d). Each may be given on the command line; only
# PREFIX and DESTDIR are also taken from the environment.
VERSION := 1.0.0
# The soname's number is VERSION's major: an incompatible libcontig is 2.0.0
# and libcontig.so.2.
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
SONAME := libcontig.so.$(SOVERSION)
PREFIX ?= /usr/local
DESTDIR ?=
usr_or = $(if $(filter /usr /usr/,$(PREFIX)),$(1),$(2))
BINDIR = $(PREFIX)/bin
SBINDIR = $(PREFIX)/sbin
LIBDIR = $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
PKGCONFIGDIR = $(LIBDIR)/pkgconfig
DATADIR = $(PREFIX)/share
MANDIR = $(DATADIR)/man
DOCDIR = $(DATADIR)/doc/contigd
SYSCONFDIR = $(call usr_or,/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR = $(call usr_or,/lib/systemd/system,$(PREFIX)/lib/systemd/system)
SYSUSERSDIR = $(call usr_or,/usr/lib/sysusers.d,$(PREFIX)/lib/sysusers.d)
# Container runtimes read CDI specs from /etc/cdi (and /var/run/cdi) only,
# whatever the PREFIX; CDI_SOCKET is the socket the spec hands containers
# (contigd.socket's).
CDIDIR ?= /etc/cdi
CDI_SOCKET ?= /run/contigd/contigd.sock

CC ?= cc
CFLAGS ?= -O2 -g
PKGS := libuv libprotobuf-c libsystemd numa

# Lazily evaluated: `make run` and `make test` install the packages first
# and then build in a sub-make, where pkg-config finds them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

B ?= build
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wformat=2 -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -fPIC -MMD -MP
CPPFLAGS_ALL = -Idaemon -Icommon -Iproto -Iclient -I$(B)/proto -I$(B)/gen -Itests -Itests/integration \
	$(PKG_CFLAGS)

PROTO_C := $(B)/proto/contig.pb-c.c
PROTO_H := $(B)/proto/contig.pb-c.h
# The journal's records (daemon/journal.c only).
JOURNAL_PROTO_C := $(B)/proto/journal.pb-c.c
JOURNAL_PROTO_H := $(B)/proto/journal.pb-c.h

# common/: pure code and values that the daemon, libcontig and contigctl
# share (common/README.md); no tool ever links a daemon object.
# rangecheck.c is for the tests (range.h's CONTIG_RANGE_DEBUG part).
COMMON_SRCS := $(filter-out common/rangecheck.c,$(wildcard common/*.c))
DAEMON_SRCS := $(wildcard daemon/*.c) $(COMMON_SRCS) proto/fdpass.c
LIB_SRCS := $(filter-out client/contig_dpdk.c,$(wildcard client/*.c)) common/range.c proto/fdpass.c
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/*.c))
INTEGRATION_TESTS := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,\
	$(filter-out tests/integration/harness.c,$(wildcard tests/integration/*.c)))
CONFORMANCE_TESTS := $(patsubst tests/conformance/%.c,$(B)/tests/conformance/%,\
	$(wildcard tests/conformance/*.c))
BENCHES := $(patsubst bench/%.c,$(B)/bench/%,$(filter-out bench/common.c,$(wildcard bench/*.c)))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
DAEMON_OBJS := $(call obj,$(DAEMON_SRCS)) $(B)/obj/proto/contig.pb-c.o \
	$(B)/obj/proto/journal.pb-c.o
LIB_OBJS := $(call obj,$(LIB_SRCS)) $(B)/obj/proto/contig.pb-c.o

all: $(B)/contigd $(B)/contigctl $(B)/libcontig.a $(B)/libcontig.so dpdk

$(PROTO_C) $(PROTO_H): proto/contig.proto
	@mkdir -p $(B)/proto
	protoc-c --proto_path=proto --c_out=$(B)/proto $<

$(JOURNAL_PROTO_C) $(JOURNAL_PROTO_H): proto/journal.proto
	@mkdir -p $(B)/proto
	protoc-c --proto_path=proto --c_out=$(B)/proto $<

$(B)/obj/proto/%.pb-c.o: $(B)/proto/%.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) -c -o $@ $<

# VERSION and SONAME for `contigd --version` and `contigctl --version`
# (the .pc file and the soname take them from here too). Rewritten only
# when they change, so that a change rebuilds what includes it.
VERSION_H := $(B)/gen/contig_version.h
VERSION_H_LINES = '/* Made by the Makefile from VERSION: do not edit. */' \
	'\#define CONTIG_VERSION "$(VERSION)"' '\#define CONTIG_SONAME "$(SONAME)"'
$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(VERSION_H_LINES) | cmp -s - $@ || printf '%s\n' $(VERSION_H_LINES) > $@

# Everything that may include a generated header waits for it.
$(B)/obj/%.o: %.c | $(PROTO_H) $(JOURNAL_PROTO_H) $(VERSION_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) -c -o $@ $<

# libcontig exports only what client/contig.h marks CONTIG_EXPORT.
$(call obj,$(LIB_SRCS)) $(B)/obj/proto/contig.pb-c.o: override CFLAGS += -fvisibility=hidden

$(B)/contigd: $(DAEMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lhugetlbfs -lz -lpthread

$(B)/libcontig.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# The soname is what programs linked with -lcontig ask for at run time.
$(B)/libcontig.so: $(LIB_OBJS)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $(B)/$(SONAME) $^ \
		$(shell pkg-config --libs libprotobuf-c 2>/dev/null) -lpthread
	ln -sf $(SONAME) $@

$(B)/contigctl: $(B)/obj/tools/contigctl.o $(B)/obj/tools/json.o $(B)/obj/tools/map.o \
		$(B)/obj/tools/metrics.o $(B)/obj/tools/cdi.o $(B)/obj/tools/atomic.o \
		$(call obj,$(COMMON_SRCS)) $(B)/libcontig.a
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libprotobuf-c 2>/dev/null) -lpthread

# Unit tests: one executable per pure module, built from its sources.
CONFIG_OBJS = $(addprefix $(B)/obj/daemon/,config.o configdefault.o poolspec.o size.o)
$(B)/tests/unit/test_range: $(B)/obj/tests/unit/test_range.o $(B)/obj/common/range.o \
	$(B)/obj/common/rangecheck.o
$(B)/tests/unit/test_config: $(B)/obj/tests/unit/test_config.o $(CONFIG_OBJS)
$(B)/tests/unit/test_select: $(B)/obj/tests/unit/test_select.o $(B)/obj/daemon/select.o \
	$(B)/obj/common/segments.o
$(B)/tests/unit/test_escape: $(B)/obj/tests/unit/test_escape.o $(B)/obj/common/escape.o
# The documentation against config.c's keys and git's files, read from this tree.
$(B)/tests/unit/test_docs: $(B)/obj/tests/unit/test_docs.o $(CONFIG_OBJS)
$(B)/obj/tests/unit/test_docs.o: override CFLAGS += -DCONTIG_SRCDIR='"$(CURDIR)"'
# pool.c's segments on the fuzz harness's fake frames (tests/fuzz/fake.c).
$(B)/tests/unit/test_pool: $(B)/obj/tests/unit/test_pool.o $(B)/obj/daemon/pool.o \
	$(B)/obj/common/range.o $(B)/obj/common/segments.o $(B)/obj/tests/fuzz/fake.o \
	$(B)/obj/proto/contig.pb-c.o
$(B)/obj/tests/unit/test_pool.o $(B)/obj/tests/fuzz/fake.o: override CFLAGS += -Itests/fuzz
$(B)/tests/unit/test_pool: override LDLIBS += $(shell pkg-config --libs libprotobuf-c 2>/dev/null)
$(B)/tests/unit/test_journal: $(B)/obj/tests/unit/test_journal.o $(B)/obj/daemon/journal.o \
	$(B)/obj/proto/journal.pb-c.o
$(B)/tests/unit/test_journal: override LDLIBS += $(shell pkg-config --libs libprotobuf-c 2>/dev/null) -lz
$(UNIT_TESTS):
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Integration tests: real daemon, real hugepages, client processes on libcontig.
$(B)/tests/integration/%: $(B)/obj/tests/integration/%.o \
		$(B)/obj/tests/integration/harness.o $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# test_upgrade restarts a daemon of an older commit as today's (issue 21):
# that commit's contigd, built once from git history by
# tests/integration/old_contigd.sh into $(OLD_CONTIGD). Where the history
# is missing (a copy of the tree, as in a chroot run) the script says why
# in $(OLD_CONTIGD).why and the test skips with that reason.
# UPGRADE_FROM: main just before the redesign of issue 21.
UPGRADE_FROM := 1d6216324d36cf39cf807b27b71fa86a8a15ec33
OLD_CONTIGD := $(B)/old-$(shell printf %.7s $(UPGRADE_FROM))/contigd
$(OLD_CONTIGD):
	tests/integration/old_contigd.sh $(UPGRADE_FROM) $@
$(B)/obj/tests/integration/test_upgrade.o: override CFLAGS += \
	-DUPGRADE_FROM='"$(UPGRADE_FROM)"' -DOLD_CONTIGD='"$(notdir $(patsubst %/,%,$(dir $(OLD_CONTIGD))))/contigd"'
$(B)/obj/tests/integration/test_upgrade.o: Makefile

# Containers (slow: `make test-containers`, which .ci/run runs once): a
# client in a podman container, and the test that runs it there.
CONTAINER_TESTS := $(B)/tests/containers/test_podman
$(B)/tests/containers/test_podman: $(B)/obj/tests/containers/test_podman.o \
		$(B)/obj/tests/integration/harness.o $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread
$(B)/tests/containers/ctr_client: $(B)/obj/tests/containers/ctr_client.o $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# Conformance: the Windows routines of contig_wdm.h against the real daemon.
$(B)/tests/conformance/%: $(B)/obj/tests/conformance/%.o \
		$(B)/obj/tests/integration/harness.o $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# Benches: each links bench/common.c. DPDK, the peer bench_peers compares
# with, is optional: built in only when Debian's libdpdk-dev is installed.
DPDK_CFLAGS = $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS = $(shell pkg-config --libs libdpdk 2>/dev/null)
$(B)/obj/bench/bench_peers.o: override CFLAGS += \
	$(if $(DPDK_LIBS),-DHAVE_DPDK $(DPDK_CFLAGS) -Wno-missing-prototypes -Wno-shadow)
$(B)/bench/bench_peers: override LDFLAGS += $(DPDK_LIBS)
$(B)/bench/bench_metrics: $(B)/obj/daemon/metrics.o
$(B)/bench/%: $(B)/obj/bench/%.o $(B)/obj/bench/common.o \
		$(B)/obj/tests/integration/harness.o $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lpthread

# libcontig_dpdk (contigd buffers as DPDK heaps and external mbuf memory)
# and the DPDK example on it: built only when Debian's libdpdk-dev is
# installed (`pkg-config libdpdk`), as `make all` then says.
DPDK_ALL := $(if $(DPDK_LIBS),$(B)/libcontig_dpdk.a $(B)/examples/dpdk_l2fwd_contig)
DPDK_FLAGS = $(DPDK_CFLAGS) -DALLOW_EXPERIMENTAL_API -Wno-missing-prototypes -Wno-shadow -Wno-strict-prototypes
$(B)/obj/client/contig_dpdk.o $(B)/obj/examples/dpdk_l2fwd_contig.o: override CFLAGS += $(DPDK_FLAGS)
$(B)/libcontig_dpdk.a: $(B)/obj/client/contig_dpdk.o
	rm -f $@
	$(AR) rcs $@ $^
$(B)/examples/dpdk_l2fwd_contig: $(B)/obj/examples/dpdk_l2fwd_contig.o $(B)/libcontig_dpdk.a \
		$(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lrte_net_ring $(DPDK_LIBS) \
		$(shell pkg-config --libs libprotobuf-c 2>/dev/null) -lpthread
# Its call-by-call test, a DPDK application itself: with the integration
# tests (prove, valgrind, asan) where it is built.
DPDK_TESTS := $(if $(DPDK_LIBS),$(B)/tests/dpdk/test_dpdk_api)
INTEGRATION_TESTS += $(DPDK_TESTS)
$(B)/obj/tests/dpdk/test_dpdk_api.o: override CFLAGS += $(DPDK_FLAGS)
$(B)/tests/dpdk/test_dpdk_api: $(B)/obj/tests/dpdk/test_dpdk_api.o \
		$(B)/obj/tests/integration/harness.o $(B)/libcontig_dpdk.a $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DPDK_LIBS) $(PKG_LIBS) -lpthread
dpdk: $(DPDK_ALL)
	@$(if $(DPDK_LIBS),:,echo "libdpdk-dev is not installed: libcontig_dpdk and the DPDK example are not built (apt-get install libdpdk-dev)")
.PHONY: dpdk

# A program that includes only contig_wdm.h and links -lcontig must build
# warning-free as C and as C++ (test_header runs both against a daemon).
WDM_ONLY := $(if $(wildcard tests/wdm_only/wdm_only.c),$(B)/tests/wdm_only_c $(B)/tests/wdm_only_cxx)
$(B)/tests/wdm_only_c: tests/wdm_only/wdm_only.c client/contig_wdm.h $(B)/libcontig.so
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -Iclient -x c -o $@ $< -L$(B) -lcontig \
		-Wl,-rpath,$(abspath $(B))
$(B)/tests/wdm_only_cxx: tests/wdm_only/wdm_only.c client/contig_wdm.h $(B)/libcontig.so
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -Iclient -x c++ -o $@ $< -L$(B) -lcontig \
		-Wl,-rpath,$(abspath $(B))

# Every input that once crashed a fuzz target, replayed with gcc (no
# libFuzzer) through the target's own checks: fuzz findings stay fixed.
REPLAY_TESTS := $(B)/tests/fuzz/replay_reply $(B)/tests/fuzz/replay_request
REPLAY_CFLAGS = $(CFLAGS) $(CPPFLAGS_ALL) -Itests/fuzz -Wno-missing-prototypes
$(B)/tests/fuzz/replay_reply: tests/fuzz/replay.c tests/fuzz/fuzz_reply.c client/wire.c client/error.c \
		proto/fdpass.c $(PROTO_C) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(REPLAY_CFLAGS) -DREPLAY_PREFIX='"reply-"' -o $@ $^ $(PKG_LIBS) -lpthread
$(B)/tests/fuzz/replay_request: tests/fuzz/replay.c tests/fuzz/fuzz_request.c tests/fuzz/fake.c \
		daemon/rpc.c daemon/check.c daemon/stats.c daemon/metrics.c daemon/session.c \
		daemon/session_carve.c daemon/session_restore.c daemon/tags.c daemon/quota.c daemon/pool.c \
		common/range.c common/segments.c $(PROTO_C) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(REPLAY_CFLAGS) -DREPLAY_PREFIX='"request-"' -o $@ $^ $(PKG_LIBS) -lpthread

# NUMA: numa_guest runs inside the qemu guests that tests/numa/test_numa.sh
# boots (2 and 4 nodes); the script is what prove runs.
NUMA_GUEST := $(B)/tests/numa/numa_guest
NUMA_TESTS := tests/numa/test_numa.sh
$(NUMA_GUEST): $(B)/obj/tests/numa/numa_guest.o $(B)/obj/tests/integration/harness.o \
		$(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

tests: all $(UNIT_TESTS) $(INTEGRATION_TESTS) $(WDM_ONLY) $(CONFORMANCE_TESTS) $(REPLAY_TESTS) \
	$(NUMA_GUEST) $(OLD_CONTIGD)

deps:
	@tools/deps.sh $(if $(OPTIONAL),--optional)

run: deps
	@$(MAKE) --no-print-directory all
	$(B)/contigd $(ARGS)

# `make install` into a temporary DESTDIR, then the installed tree checked
# and used: a shell script, given the build directory as $$B. It runs make
# itself (install only: everything is built by then).
INSTALL_TESTS := tests/install/test_install.sh

# No circle between the files of daemon/, common/, client/, proto/
# (tools/include-graph.sh): a shell script, run from the source tree.
LAYOUT_TESTS := tests/unit/test_include_graph.sh

# prove runs each executable directly; the closing line counts what passed.
test: deps
	@$(MAKE) --no-print-directory tests
	B=$(B) prove --exec '' $(PROVE_FLAGS) $(UNIT_TESTS) $(LAYOUT_TESTS) $(REPLAY_TESTS) \
		$(INTEGRATION_TESTS) $(CONFORMANCE_TESTS) $(INSTALL_TESTS) $(NUMA_TESTS)

# A driver in a podman container through the CDI spec (docs/containers.md);
# slow, so not part of `make test`.
test-containers: deps
	@$(MAKE) --no-print-directory all $(CONTAINER_TESTS) $(B)/tests/containers/ctr_client
	B=$(B) prove --exec '' $(PROVE_FLAGS) $(CONTAINER_TESTS)

# `make test` of this tree in a fresh Debian chroot (no systemd, / not a
# mount point), as CI in a chroot runs it: docs/testing.md.
test-chroot:
	tools/chroot-test.sh make test

# The integration tests again, with the daemon under valgrind.
test-valgrind: deps
	@$(MAKE) --no-print-directory tests
	CONTIGD_VALGRIND=1 prove --exec '' $(PROVE_FLAGS) $(INTEGRATION_TESTS) $(CONFORMANCE_TESTS)

# The whole tree again with AddressSanitizer and UBSan, in its own build
# directory, and every test under prove. Any report fails the run: the
# process that made it exits with status 98 at once (a UBSan report too:
# no recovery), and the daemon's leak report at exit makes
# harness_daemon_stop() != 0, which every test asserts.
ASAN_B ?= build-asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:exitcode=98 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=98
asan: deps
	@$(MAKE) --no-print-directory B=$(ASAN_B) CC='$(CC) $(ASAN_FLAGS)' \
		CXX='$(CXX) $(ASAN_FLAGS)' tests
	$(ASAN_ENV) prove --exec '' $(PROVE_FLAGS) $(patsubst $(B)/%,$(ASAN_B)/%,\
		$(UNIT_TESTS) $(REPLAY_TESTS) $(INTEGRATION_TESTS) $(CONFORMANCE_TESTS))
.PHONY: asan

# One table per run: every bench prints its own, then bench/run.sh prints
# the summary of all targets (see bench/common.h). The whole run also goes
# to BENCH_LOG, the file bench/README.md points at, and the summary into
# BENCH_README's marked block: commit both with the change they measure.
BENCH_LOG ?= bench/latest.txt
BENCH_README ?= bench/README.md
bench: deps
	@$(MAKE) --no-print-directory all $(BENCHES)
	@BENCH_LOG=$(BENCH_LOG) BENCH_README=$(BENCH_README) bench/run.sh $(BENCHES)

# ---- install ----
# Files that name install paths are made from templates into $(B)/install/
# (contig.pc.in, systemd/*.in: each @NAME@ becomes that variable).
# $(B)/install/dirs holds the values they were made with and changes only
# when one does, so that `make install PREFIX=/usr` after a build for
# /usr/local remakes them.
INSTALL_SUBST = VERSION PREFIX BINDIR SBINDIR LIBDIR INCLUDEDIR SYSCONFDIR DOCDIR MANDIR
# pkg-config paths relative to ${prefix} where they are under it, so that
# `pkg-config --define-prefix` can move the file (a DESTDIR tree, a copy).
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
INSTALL_SED = $(foreach v,$(INSTALL_SUBST),-e 's|@$(v)@|$($(v))|g') \
	-e 's|@PC_LIBDIR@|$(call pc_rel,$(LIBDIR))|g' \
	-e 's|@PC_INCLUDEDIR@|$(call pc_rel,$(INCLUDEDIR))|g'
INSTALL_GEN := $(B)/install/contig.pc $(B)/install/contigd.service \
	$(B)/install/contigd-metrics.service

INSTALL_VALUES = $(foreach v,$(INSTALL_SUBST),$(v)=$($(v)))
$(B)/install/dirs: FORCE
	@mkdir -p $(dir $@)
	@echo '$(INSTALL_VALUES)' | cmp -s - $@ || echo '$(INSTALL_VALUES)' > $@
$(B)/install/contig.pc: contig.pc.in $(B)/install/dirs
	sed $(INSTALL_SED) $< > $@
$(B)/install/%: systemd/%.in $(B)/install/dirs
	sed $(INSTALL_SED) $< > $@

# One page per exported function (contig.h and contig_wdm.h), each a
# pointer to libcontig(3): `man contig_alloc`, `man MmFreeContiguousMemory`.
MAN3_LINKS := contig_alloc_req_init contig_connect contig_disconnect contig_alloc \
	contig_alloc_many contig_free_many contig_set_busy_poll contig_free \
	contig_free_checked contig_virt_to_phys contig_buffer_of contig_get_stats contig_get_segments contig_get_pool_windows \
	contig_get_counters \
	contig_report_misuse contig_last_message contig_list_buffers contig_list_frames \
	contig_sync_for_device contig_sync_for_cpu contig_copy_to_wc contig_get_cache_info \
	MmAllocateContiguousMemory \
	MmAllocateContiguousMemorySpecifyCache MmAllocateContiguousMemorySpecifyCacheNode \
	MmFreeContiguousMemory MmFreeContiguousMemorySpecifyCache MmGetPhysicalAddress \
	NdisAllocateMemoryWithTagPriority NdisFreeMemory ContigWdmClient
# The shipped configuration: the built-in one with a comment per key. An
# existing one is kept (an operator's edits win); the shipped one then
# goes beside it as contigd.conf.dist.
CONF := $(wildcard etc/contigd.conf)
CONFDIR = $(DESTDIR)$(SYSCONFDIR)/contigd

install: all $(INSTALL_GEN)
	install -D -m 0755 $(B)/contigd $(DESTDIR)$(SBINDIR)/contigd
	install -D -m 0755 $(B)/contigctl $(DESTDIR)$(BINDIR)/contigctl
	install -D -m 0644 $(B)/libcontig.a $(DESTDIR)$(LIBDIR)/libcontig.a
	install -D -m 0755 $(B)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcontig.so
	install -D -m 0644 client/contig.h $(DESTDIR)$(INCLUDEDIR)/contig.h
	install -D -m 0644 client/contig_wdm.h $(DESTDIR)$(INCLUDEDIR)/contig_wdm.h
	install -D -m 0644 $(B)/install/contig.pc $(DESTDIR)$(PKGCONFIGDIR)/contig.pc
	install -D -m 0644 $(B)/install/contigd.service $(DESTDIR)$(SYSTEMDUNITDIR)/contigd.service
	install -D -m 0644 systemd/contigd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/contigd.socket
	install -D -m 0644 systemd/contigd.sysusers $(DESTDIR)$(SYSUSERSDIR)/contigd.conf
	install -D -m 0644 $(B)/install/contigd-metrics.service \
		$(DESTDIR)$(SYSTEMDUNITDIR)/contigd-metrics.service
	install -D -m 0644 systemd/contigd-metrics.timer \
		$(DESTDIR)$(SYSTEMDUNITDIR)/contigd-metrics.timer
	install -d -m 0755 $(DESTDIR)$(CDIDIR)
	$(B)/contigctl --socket $(CDI_SOCKET) cdi --offline --output $(DESTDIR)$(CDIDIR)/contigd.json
	install -D -m 0644 man/contigd.8 $(DESTDIR)$(MANDIR)/man8/contigd.8
	install -D -m 0644 man/contigctl.1 $(DESTDIR)$(MANDIR)/man1/contigctl.1
	install -D -m 0644 man/libcontig.3 $(DESTDIR)$(MANDIR)/man3/libcontig.3
	for f in $(MAN3_LINKS); do \
		echo '.so man3/libcontig.3' > $(DESTDIR)$(MANDIR)/man3/$$f.3 && \
		chmod 0644 $(DESTDIR)$(MANDIR)/man3/$$f.3 || exit 1; \
	done
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
ifneq ($(DPDK_LIBS),)
	install -D -m 0644 $(B)/libcontig_dpdk.a $(DESTDIR)$(LIBDIR)/libcontig_dpdk.a
	install -D -m 0644 client/contig_dpdk.h $(DESTDIR)$(INCLUDEDIR)/contig_dpdk.h
endif
ifneq ($(CONF),)
	install -d -m 0755 $(CONFDIR)
	if [ -e $(CONFDIR)/contigd.conf ]; then \
		install -m 0644 $(CONF) $(CONFDIR)/contigd.conf.dist; \
	else \
		install -m 0644 $(CONF) $(CONFDIR)/contigd.conf; \
	fi
endif

# Removes what install put there; a configuration that differs from the
# shipped one is an operator's and stays.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/contigd $(DESTDIR)$(BINDIR)/contigctl \
		$(DESTDIR)$(LIBDIR)/libcontig.a $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libcontig.so $(DESTDIR)$(INCLUDEDIR)/contig.h \
		$(DESTDIR)$(INCLUDEDIR)/contig_wdm.h $(DESTDIR)$(PKGCONFIGDIR)/contig.pc \
		$(DESTDIR)$(SYSTEMDUNITDIR)/contigd.service $(DESTDIR)$(SYSTEMDUNITDIR)/contigd.socket \
		$(DESTDIR)$(SYSUSERSDIR)/contigd.conf $(DESTDIR)$(MANDIR)/man8/contigd.8 \
		$(DESTDIR)$(SYSTEMDUNITDIR)/contigd-metrics.service \
		$(DESTDIR)$(SYSTEMDUNITDIR)/contigd-metrics.timer $(DESTDIR)$(CDIDIR)/contigd.json \
		$(DESTDIR)$(MANDIR)/man1/contigctl.1 $(DESTDIR)$(MANDIR)/man3/libcontig.3 \
		$(patsubst %,$(DESTDIR)$(MANDIR)/man3/%.3,$(MAN3_LINKS)) \
		$(DESTDIR)$(DOCDIR)/README.md $(CONFDIR)/contigd.conf.dist \
		$(DESTDIR)$(LIBDIR)/libcontig_dpdk.a $(DESTDIR)$(INCLUDEDIR)/contig_dpdk.h
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	if [ -n "$(CONF)" ] && cmp -s $(CONF) $(CONFDIR)/contigd.conf; then \
		rm -f $(CONFDIR)/contigd.conf; rmdir $(CONFDIR) 2>/dev/null || true; \
	fi

FORCE:

clean:
	rm -rf $(B)

.PHONY: all tests deps run test test-chroot test-containers test-valgrind bench install uninstall clean FORCE
.DELETE_ON_ERROR:
# Keep objects that only chain rules produce (tests): no rebuilds next time.
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# Fuzzing (tests/fuzz/README.md): libFuzzer targets over the daemon's request
# path and the client's reply decoding, built with clang and sanitizers into
# $(B)/fuzz/ and run FUZZ_SECONDS each on a copy of the committed corpus
# (new inputs go to $(B)/fuzz/work/, crashes to $(B)/fuzz/crashes/). Not part
# of `make test`. Exits non-zero if either target finds a crash.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1 \
	-std=c11 -D_GNU_SOURCE -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Idaemon -Icommon -Iproto -Iclient -I$(B)/proto -Itests/fuzz \
	-fsanitize-coverage-ignorelist=tests/fuzz/coverage.ignore
FUZZ_HDRS = $(wildcard daemon/*.h common/*.h client/*.h proto/*.h tests/fuzz/*.h) $(PROTO_H) \
	tests/fuzz/coverage.ignore
FUZZ_TARGETS := request reply
FUZZ_REQUEST_SRCS = tests/fuzz/fuzz_request.c tests/fuzz/fake.c daemon/rpc.c daemon/check.c \
	daemon/stats.c daemon/metrics.c daemon/session.c daemon/session_carve.c daemon/session_restore.c daemon/tags.c \
	daemon/quota.c daemon/pool.c common/range.c common/segments.c $(PROTO_C)
FUZZ_REPLY_SRCS = tests/fuzz/fuzz_reply.c client/wire.c client/error.c proto/fdpass.c $(PROTO_C)
$(B)/fuzz/fuzz_request: $(FUZZ_REQUEST_SRCS) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lprotobuf-c

$(B)/fuzz/fuzz_reply: $(FUZZ_REPLY_SRCS) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lprotobuf-c

# The same targets with source-based coverage instead of the sanitizers,
# to measure what the committed corpus reaches (make fuzz-coverage).
FUZZ_COV_CFLAGS := -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping -g -O0 \
	-std=c11 -D_GNU_SOURCE -Idaemon -Icommon -Iproto -Iclient -I$(B)/proto -Itests/fuzz
$(B)/fuzz-cov/fuzz_request: $(FUZZ_REQUEST_SRCS) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COV_CFLAGS) -o $@ $(filter %.c,$^) -lprotobuf-c

$(B)/fuzz-cov/fuzz_reply: $(FUZZ_REPLY_SRCS) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COV_CFLAGS) -o $@ $(filter %.c,$^) -lprotobuf-c

# Line and region coverage of the code each target drives, over the
# committed corpus (tests/fuzz/README.md quotes it).
fuzz-coverage: $(addprefix $(B)/fuzz-cov/fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
		rm -f $(B)/fuzz-cov/$$t.profraw; \
		LLVM_PROFILE_FILE=$(B)/fuzz-cov/$$t.profraw $(B)/fuzz-cov/fuzz_$$t -runs=0 \
			tests/fuzz/corpus/$$t > $(B)/fuzz-cov/$$t.log 2>&1 || exit 1; \
		llvm-profdata merge -sparse -o $(B)/fuzz-cov/$$t.profdata $(B)/fuzz-cov/$$t.profraw; \
		echo "fuzz_$$t over tests/fuzz/corpus/$$t ($$(ls tests/fuzz/corpus/$$t | wc -l) inputs):"; \
		llvm-cov report $(B)/fuzz-cov/fuzz_$$t -instr-profile=$(B)/fuzz-cov/$$t.profdata \
			$$(if [ $$t = request ]; then echo daemon/rpc.c daemon/check.c daemon/stats.c \
			daemon/session.c daemon/tags.c daemon/quota.c daemon/pool.c \
			common/range.c; else echo client/wire.c client/error.c proto/fdpass.c; fi); \
	done

$(B)/fuzz/make_seeds: tests/fuzz/make_seeds.c $(PROTO_C) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Idaemon -Iproto -Iclient -I$(B)/proto \
		-o $@ $(filter %.c,$^) -lprotobuf-c

# Regenerate the committed seed corpus (then review and commit it).
fuzz-seeds: $(B)/fuzz/make_seeds
	$(B)/fuzz/make_seeds tests/fuzz/corpus

fuzz: $(addprefix $(B)/fuzz/fuzz_,$(FUZZ_TARGETS))
	@fail=0; for t in $(FUZZ_TARGETS); do \
		rm -rf $(B)/fuzz/work/$$t; mkdir -p $(B)/fuzz/work/$$t $(B)/fuzz/crashes/$$t; \
		cp tests/fuzz/corpus/$$t/* $(B)/fuzz/work/$$t/; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s, log in $(B)/fuzz/$$t.log"; \
		$(B)/fuzz/fuzz_$$t -max_len=4096 -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-print_final_stats=1 -artifact_prefix=$(B)/fuzz/crashes/$$t/ \
			$(B)/fuzz/work/$$t > $(B)/fuzz/$$t.log 2>&1; rc=$$?; \
		if [ $$rc -ne 0 ]; then fail=1; echo "fuzz_$$t: FAILED (exit $$rc):"; \
			grep -v -E '^#[0-9]+' $(B)/fuzz/$$t.log | tail -n 60; \
		else grep -E '^#[0-9]+[[:space:]]+DONE|^stat::' $(B)/fuzz/$$t.log; fi; \
	done; exit $$fail

.PHONY: fuzz fuzz-seeds fuzz-coverage
