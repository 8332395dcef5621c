#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time
# (default 60 s) from the seed corpora in fuzz/corpus/. Any crash, leak or
# sanitizer report fails the run; findings are written to build-fuzz/findings/.
#   scripts/fuzz.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
scripts/deps.sh clang libclang-rt-14-dev
CC=clang cmake -S . -B build-fuzz -DUWRELAY_FUZZ=ON -DUWRELAY_UNIT_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_upframe fuzz_config fuzz_climsg fuzz_restbody fuzz_wsframe fuzz_query fuzz_httpreq fuzz_filter fuzz_deflate
mkdir -p build-fuzz/findings
for t in upframe config climsg restbody wsframe query httpreq filter deflate; do
  work=build-fuzz/corpus-$t
  mkdir -p "$work"
  echo "== fuzz_$t for ${secs}s"
  # new inputs go to the work corpus, the seeds in the tree stay as they are
  rc=0
  build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" -detect_leaks=1 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/findings/$t- "$work" fuzz/corpus/$t >build-fuzz/fuzz_$t.log 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY)" build-fuzz/fuzz_$t.log || true
  if [ $rc -ne 0 ]; then
    tail -40 build-fuzz/fuzz_$t.log
    echo "fuzz_$t FAILED (exit $rc): reproducer in build-fuzz/findings/"
    exit 1
  fi
done
echo "fuzzing: no crash, leak or sanitizer report"
