# shiftlog — top-level build. `make` builds everything; see README.md.
#   make                      bin/shiftlog-{collector,miner,applier}, bin/shiftlog
#   make test                 install what is missing, start the local stack, unit + integration tests
#   make test-unit            cmocka tests, no servers
#   make test-it              integration tests against deploy/local (starts it)
#   make demo                 a real pipeline on the local stack
#   make SANITIZER=address    build (and test) with a sanitizer, in build/address/
#   CI=true                   adds -Werror

PKGS      := rdkafka libmariadb libpq libmongoc-1.0 libbson-1.0 avro-c libcurl libmicrohttpd
CC        ?= cc
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -pthread -Icommon
ifeq ($(CI),true)
CFLAGS    += -Werror
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS     += $(PKG_LIBS) -lm -pthread

ifneq ($(SANITIZER),)
CFLAGS    += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=$(SANITIZER)
OUT       := build/$(SANITIZER)
BIN       := $(OUT)/bin
else
OUT       := build/release
BIN       := bin
endif

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(OUT)/%.o)
LIB        := $(OUT)/libshiftlog.a

SERVICES   := collector miner applier
CLI_SRC    := $(wildcard cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
IT_C_SRC   := $(wildcard tests/it/it_*.c)
IT_C_BIN   := $(IT_C_SRC:tests/it/%.c=$(OUT)/tests/%)

PROGRAMS   := $(SERVICES:%=$(BIN)/shiftlog-%) $(BIN)/shiftlog

.PHONY: all install test test-unit test-it test-long demo bench clean up down check-deps
all: $(PROGRAMS) $(UNIT_BIN) $(IT_C_BIN)

$(OUT)/%.o: %.c $(wildcard common/*.h) | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

define service_rule
$(BIN)/shiftlog-$(1): $(patsubst %.c,$(OUT)/%.o,$(wildcard $(1)/*.c)) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rule,$(s))))

$(BIN)/shiftlog: $(CLI_SRC:%.c=$(OUT)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/tests/test_%: $(OUT)/tests/unit/test_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

$(OUT)/tests/it_%: $(OUT)/tests/it/it_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

# Fail early and clearly when the C libraries are missing (deploy/local/install fixes it).
check-deps:
	@pkg-config --exists $(PKGS) cmocka || { echo "missing C libraries: run deploy/local/install (or make install)"; \
	  pkg-config --print-errors --exists $(PKGS) cmocka; exit 1; }

install:
	deploy/local/install

up: install
	deploy/local/up

down:
	deploy/local/down

test-unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

test-it: up all
	SHIFTLOG_BIN=$(BIN) SHIFTLOG_TEST_BIN=$(OUT)/tests tests/it/run

test: install
	$(MAKE) all
	$(MAKE) test-unit
	$(MAKE) test-it

test-long: up all
	SHIFTLOG_BIN=$(BIN) SHIFTLOG_TEST_BIN=$(OUT)/tests SHIFTLOG_LONG=1 tests/it/run

demo: install
	$(MAKE) all
	deploy/local/up
	SHIFTLOG_BIN=$(BIN) deploy/local/demo

bench: all
	@for b in bench/*.sh; do [ -x "$$b" ] && "$$b"; done; true

clean:
	rm -rf build bin

-include $(COMMON_OBJ:.o=.d) $(wildcard $(OUT)/*/*.d) $(wildcard $(OUT)/tests/*/*.d)
