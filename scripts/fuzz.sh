#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz + libFuzzer, AddressSanitizer, debug assertions and
# overflow checks on) of the guest code that reads untrusted bytes: fuzz/fuzz_targets/*.rs.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 30 s for each target in fuzz/Cargo.toml)
# Builds every target once, then runs each for SECONDS; fails if any target crashes, leaks,
# times out or runs out of memory, leaving the input in fuzz/artifacts/TARGET/.
# Works on stable Rust: cargo-fuzz passes nightly-only flags (-Zsanitizer=...), which the
# stable compiler accepts under RUSTC_BOOTSTRAP=1; it ships the ASan runtime they need.
# Corpora grow in fuzz/corpus/TARGET (not committed); fuzz/seeds/TARGET are committed seeds
# and fuzz/dicts/TARGET.dict libFuzzer dictionaries, both read-only here.
# Reproduce a crash:   RUSTC_BOOTSTRAP=1 cargo fuzz run -O TARGET fuzz/artifacts/TARGET/crash-...
# Minimise it:         RUSTC_BOOTSTRAP=1 cargo fuzz tmin -O TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
CARGO_FUZZ_VERSION=0.13.2   # builds with rustc 1.95
export RUSTC_BOOTSTRAP=1
# A 2-core machine shared with other builds: one job, lowest priority.
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
NICE="nice -n 19"

case $seconds in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac
command -v cargo-fuzz >/dev/null || $NICE cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
echo "$(cargo fuzz --version), $(rustc --version)"

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
start=$(date +%s)
# -O: fuzz/Cargo.toml's release profile sets debug assertions and overflow checks.
$NICE cargo fuzz build -O
echo "built ${#targets[@]} targets in $(( $(date +%s) - start )) s"

logs=fuzz/target/logs
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
  corpus=("$PWD/fuzz/corpus/$t")
  mkdir -p "${corpus[0]}" "fuzz/artifacts/$t"
  [ -d "fuzz/seeds/$t" ] && corpus+=("$PWD/fuzz/seeds/$t")
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=60 -print_final_stats=1)
  [ -f "fuzz/dicts/$t.dict" ] && args+=(-dict="$PWD/fuzz/dicts/$t.dict")
  echo "== $t: $seconds s"
  if $NICE cargo fuzz run -O "$t" "${corpus[@]}" -- "${args[@]}" >"$logs/$t.log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    # The panic's or the sanitizer's report, then the failing input and how to reproduce it.
    grep -m1 -A3 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|ALARM' "$logs/$t.log" || tail -n 40 "$logs/$t.log"
    sed -n '/^Failing input:/,/^Minimize/p' "$logs/$t.log"
  fi
  # libFuzzer's last status line: total runs, edges covered, features, corpus, exec/s, memory.
  last=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -n 1 | tr -s ' \t' ' ' || true)
  summary+=("$(printf '%-14s %-6s %s' "$t" "$status" "$last")")
done

echo "== summary (full logs in $logs/)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
