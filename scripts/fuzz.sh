#!/usr/bin/env bash
# Fuzzes the pgoutput decoder and the replication stream framing with libFuzzer
# (clang, ASan + UBSan) for FUZZ_SECONDS (default 60). `make fuzz` runs this.
#
# The target is compiled straight from the few sources it needs into
# build-fuzz/. Seeds: fuzz/corpus (real PostgreSQL 15 messages; regenerate with
#   FERRY_PGOUTPUT_CORPUS_DIR=$PWD/fuzz/corpus build/tests/ferry_unit_tests \
#     --gtest_filter='PgOutputRealMessagesTest.*'
# ). New inputs go to build-fuzz/corpus; crashes to build-fuzz/crash-*.
set -euo pipefail

if ! dpkg -s clang libclang-rt-14-dev >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-fuzz"
seconds=${FUZZ_SECONDS:-60}
mkdir -p "$out/corpus"

sources=(
  common/status.cpp common/lsn.cpp common/byte_reader.cpp
  capture/pgoutput_decoder.cpp capture/replication_messages.cpp
  fuzz/pgoutput_fuzzer.cpp
)
echo "fuzz: building $out/pgoutput_fuzzer"
(cd "$root" && clang++ -std=c++20 -O1 -g -Wall -Wextra -Werror -I"$root" \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
  "${sources[@]}" -o "$out/pgoutput_fuzzer")

echo "fuzz: running for ${seconds}s (seeds: fuzz/corpus)"
cd "$out"
seeds=()
[ -d "$root/fuzz/corpus" ] && seeds+=("$root/fuzz/corpus")
# The first folder receives new inputs; the checked-in seeds stay untouched.
./pgoutput_fuzzer -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  "$out/corpus" "${seeds[@]}"
