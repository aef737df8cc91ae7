#!/bin/sh
# Avro codec throughput: encode/decode records/s for a 10-column CHANGE batch, against
# avro-c's generic writer and reader (sl_avro_*_generic) in the same run,
# of 1 and 100 rows (update: before + after images). Usage: bench/avro_codec.sh [seconds]
set -e
cd "$(dirname "$0")/.."
make -s build/release/libshiftlog.a
mkdir -p build/release/bench
cc -O2 -g -std=gnu11 -D_GNU_SOURCE -Icommon $(pkg-config --cflags avro-c) -o build/release/bench/avro_codec \
   bench/avro_codec.c build/release/libshiftlog.a $(pkg-config --libs avro-c) -lm
build/release/bench/avro_codec "${1:-2}"
