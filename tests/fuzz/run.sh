#!/bin/sh
# Build the lambda fuzzer with clang and run it for a bounded time.
#   tests/fuzz/run.sh [SECONDS]      (default 60; exits non-zero on a crash)
# The build goes to $RF_FUZZ_DIR (default build-fuzz/ at the top of the tree);
# new corpus entries go to $RF_FUZZ_DIR/corpus, the seeds stay in tests/fuzz/corpus.
# A crash leaves its input as $RF_FUZZ_DIR/crash-*: add it to tests/fuzz/corpus
# and a regression case to tests/unit/test_lambda.c when fixing it.
set -eu
SECS=${1:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${RF_FUZZ_DIR:-$ROOT/build-fuzz}
CC=${CC_FUZZ:-clang}
mkdir -p "$OUT/corpus"
# shellcheck disable=SC2046
$CC -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fno-omit-frame-pointer -D_GNU_SOURCE -I"$ROOT/include" -I"$ROOT/lib/lambda" \
    "$ROOT"/lib/lambda/*.c "$ROOT/lib/alloc.c" "$ROOT/lib/buf.c" "$ROOT/lib/utf8.c" "$HERE/fuzz_lambda.c" \
    $(pkg-config --cflags --libs libpcre2-8 gmp libcjson icu-uc) -lm -o "$OUT/fuzz_lambda"
exec "$OUT/fuzz_lambda" -max_total_time="$SECS" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
    -artifact_prefix="$OUT/" -print_final_stats=1 "$OUT/corpus" "$HERE/corpus"
