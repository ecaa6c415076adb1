# contigd - physically contiguous DMA memory for user-space drivers.
#
#   make            build build/contigd, build/contigctl, build/libcontig.{a,so}
#   make run        install missing packages (as root), build, run the daemon
#                   with the built-in configuration in the foreground
#   make test       install missing packages (as root), build, run every test
#                   under prove (needs root and hugepages: see README.md)
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
CFLAGS ?= -O2 -g
PKGS := libuv libprotobuf-c libsystemd numa

# Lazily evaluated: `make run` and `make test` install the packages first
# and then build in a sub-make, where pkg-config finds them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

B := build
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wformat=2 -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -fPIC -MMD -MP
CPPFLAGS_ALL = -Idaemon -Iproto -Iclient -I$(B)/proto -Itests -Itests/integration $(PKG_CFLAGS)

PROTO_C := $(B)/proto/contig.pb-c.c
PROTO_H := $(B)/proto/contig.pb-c.h

DAEMON_SRCS := $(wildcard daemon/*.c) proto/fdpass.c
LIB_SRCS := $(wildcard client/*.c) proto/fdpass.c
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/*.c))
INTEGRATION_TESTS := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,\
	$(filter-out tests/integration/harness.c,$(wildcard tests/integration/*.c)))
CONFORMANCE_TESTS := $(patsubst tests/conformance/%.c,$(B)/tests/conformance/%,\
	$(wildcard tests/conformance/*.c))
BENCHES := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
DAEMON_OBJS := $(call obj,$(DAEMON_SRCS)) $(B)/obj/proto/contig.pb-c.o
LIB_OBJS := $(call obj,$(LIB_SRCS)) $(B)/obj/proto/contig.pb-c.o

all: $(B)/contigd $(B)/contigctl $(B)/libcontig.a $(B)/libcontig.so

$(PROTO_C) $(PROTO_H): proto/contig.proto
	@mkdir -p $(B)/proto
	protoc-c --proto_path=proto --c_out=$(B)/proto $<

$(B)/obj/proto/contig.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) -c -o $@ $<

# Everything that may include the generated header waits for it.
$(B)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) -c -o $@ $<

# libcontig exports only what client/contig.h marks CONTIG_EXPORT.
$(call obj,$(LIB_SRCS)) $(B)/obj/proto/contig.pb-c.o: override CFLAGS += -fvisibility=hidden

$(B)/contigd: $(DAEMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lhugetlbfs -lpthread

$(B)/libcontig.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# The soname is what programs linked with -lcontig ask for at run time.
$(B)/libcontig.so: $(LIB_OBJS)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libcontig.so.1 -o $(B)/libcontig.so.1 $^ \
		$(shell pkg-config --libs libprotobuf-c 2>/dev/null) -lpthread
	ln -sf libcontig.so.1 $@

$(B)/contigctl: $(B)/obj/tools/contigctl.o $(B)/libcontig.a
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libprotobuf-c 2>/dev/null) -lpthread

# Unit tests: one executable per pure module, built from its sources.
$(B)/tests/unit/test_range: $(B)/obj/tests/unit/test_range.o $(B)/obj/daemon/range.o
$(B)/tests/unit/test_config: $(B)/obj/tests/unit/test_config.o $(B)/obj/daemon/config.o
$(UNIT_TESTS):
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# Integration tests: real daemon, real hugepages, client processes on libcontig.
$(B)/tests/integration/%: $(B)/obj/tests/integration/%.o \
		$(B)/obj/tests/integration/harness.o $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# Conformance: the Windows routines of contig_wdm.h against the real daemon.
$(B)/tests/conformance/%: $(B)/obj/tests/conformance/%.o \
		$(B)/obj/tests/integration/harness.o $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(B)/bench/%: $(B)/obj/bench/%.o $(B)/libcontig.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

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

tests: all $(UNIT_TESTS) $(INTEGRATION_TESTS) $(WDM_ONLY) $(CONFORMANCE_TESTS)

deps:
	@tools/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	$(B)/contigd $(ARGS)

# prove runs each executable directly; the closing line counts what passed.
test: deps
	@$(MAKE) --no-print-directory tests
	prove --exec '' $(PROVE_FLAGS) $(UNIT_TESTS) $(INTEGRATION_TESTS) $(CONFORMANCE_TESTS)

# The integration tests again, with the daemon under valgrind.
test-valgrind: deps
	@$(MAKE) --no-print-directory tests
	CONTIGD_VALGRIND=1 prove --exec '' $(PROVE_FLAGS) $(INTEGRATION_TESTS) $(CONFORMANCE_TESTS)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCHES)
	@for b in $(BENCHES); do $$b || exit 1; done

install: all
	install -D -m 0755 $(B)/contigd $(DESTDIR)$(PREFIX)/sbin/contigd
	install -D -m 0755 $(B)/contigctl $(DESTDIR)$(PREFIX)/bin/contigctl
	install -D -m 0644 $(B)/libcontig.a $(DESTDIR)$(PREFIX)/lib/libcontig.a
	install -D -m 0755 $(B)/libcontig.so.1 $(DESTDIR)$(PREFIX)/lib/libcontig.so.1
	ln -sf libcontig.so.1 $(DESTDIR)$(PREFIX)/lib/libcontig.so
	install -D -m 0644 client/contig.h $(DESTDIR)$(PREFIX)/include/contig.h
	install -D -m 0644 client/contig_wdm.h $(DESTDIR)$(PREFIX)/include/contig_wdm.h

clean:
	rm -rf $(B)

.PHONY: all tests deps run test test-valgrind bench install clean
.DELETE_ON_ERROR:
# Keep objects that only chain rules produce (tests): no rebuilds next time.
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
