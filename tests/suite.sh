#!/usr/bin/env bash
# The whole pytest suite as three pytest processes at once, on two cores: every folder but
# tests/e2e and tests/bench (which keeps a core busy about half the time), and the browser and
# whole-stack tests of tests/e2e and tests/bench split in two lanes (the failure tests, which
# mostly wait out outages, leases and restarts on the sync's own timers, and the others).
# Together they take about as long as the longest of the three, not the sum. The rest's
# output is shown as it runs; the two whole-stack lanes' output is written to files and shown
# once everything is done. Each lane prints its 15 slowest tests. Fails if any lane fails.
#
# Every lane reads the caller's environment. Where it names shared servers (CI's PostgreSQL
# pass), each whole-stack lane needs its own: STACKS_DATABASE_URL, STACKS_CELERY_BROKER_URL
# and STACKS_CACHE_URL stand in for DATABASE_URL, CELERY_BROKER_URL and CACHE_URL in the
# first, FAILURES_DATABASE_URL, FAILURES_CELERY_BROKER_URL and FAILURES_CACHE_URL in the
# failure tests' lane (pytest-django's test database is named after the URL's, tests clear
# the cache, and two stacks' workers on one broker would take each other's messages).
# Arguments go to every pytest process (options, not paths).
#
# SUITE_THEN: a command run once all lanes but one are done, beside the last one, whose CPU
# it mostly leaves idle (CI's API fuzzing); its failure fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."

FAILURES=(tests/e2e/test_failures.py tests/e2e/test_worker_recovery.py)
STACKS=(tests/e2e tests/bench "${FAILURES[@]/#/--ignore=}")
declare -A NAME=() LOG=()
started=$SECONDS

# lane PREFIX NAME LOGFILE ARGS...: one pytest process in the background, in a process group
# of its own that keeps SIGINT (a script's background jobs ignore it otherwise), so Ctrl-C
# reaches it and pytest stops its stacks. PREFIX_* variables stand in for the shared servers'.
lane() {
  local prefix=$1 name=$2 log=$3
  shift 3
  (
    if [ -n "$prefix" ]; then
      for variable in DATABASE_URL CELERY_BROKER_URL CACHE_URL; do
        own="${prefix}_$variable"
        if [ -n "${!own:-}" ]; then export "$variable=${!own}"; fi
      done
    fi
    if [ -n "$log" ]; then exec >"$log" 2>&1; fi
    exec .venv/bin/pytest "$@"
  ) &
  NAME[$!]=$name
  LOG[$!]=$log
}

set -m
# The whole-stack lanes keep no pytest cache: the rest keeps it (last failures for --lf),
# and several would clash.
lane STACKS "tests/e2e and tests/bench but the failure tests" "$(mktemp "${TMPDIR:-/tmp}/cockpit-stacks.XXXXXX")" \
  -p no:cacheprovider "$@" "${STACKS[@]}"
lane FAILURES "the failure tests (${FAILURES[*]})" "$(mktemp "${TMPDIR:-/tmp}/cockpit-failures.XXXXXX")" \
  -p no:cacheprovider "$@" "${FAILURES[@]}"
echo "== pytest: the whole-stack tests in two lanes in the background (output below at the end)"
lane "" "the rest" "" "$@" --ignore=tests/e2e --ignore=tests/bench
then_pid=""
trap 'for pid in "${!NAME[@]}" $then_pid; do kill -INT -- "-$pid" 2>/dev/null; done' INT TERM

failed=0
running=${#NAME[@]}
while [ "$running" -gt 0 ]; do
  finished=""
  wait -n -p finished
  status=$?
  if [ -z "${finished:-}" ]; then continue; fi  # a trap cut the wait (and unset it)
  if [ "$finished" = "$then_pid" ]; then
    echo "== $SUITE_THEN: $([ "$status" -eq 0 ] && echo passed || echo "FAILED ($status)")"
    [ "$status" -eq 0 ] || failed=1
    then_pid=""
    continue
  fi
  running=$((running - 1))
  printf "\n"; echo "== pytest ${NAME[$finished]}: $([ "$status" -eq 0 ] && echo passed || echo "FAILED ($status)") after $((SECONDS - started)) s"
  [ "$status" -eq 0 ] || failed=1
  if [ "$running" -eq 1 ] && [ -n "${SUITE_THEN:-}" ]; then
    echo "== $SUITE_THEN (beside the last lane)"
    bash -c "$SUITE_THEN" &
    then_pid=$!
  fi
done
if [ -n "$then_pid" ]; then
  wait "$then_pid"
  status=$?
  echo "== $SUITE_THEN: $([ "$status" -eq 0 ] && echo passed || echo "FAILED ($status)")"
  [ "$status" -eq 0 ] || failed=1
fi

for pid in "${!NAME[@]}"; do
  if [ -n "${LOG[$pid]}" ]; then
    echo "== pytest ${NAME[$pid]}:"
    cat "${LOG[$pid]}"
    rm -f "${LOG[$pid]}"
  fi
done
echo "== the whole suite: $((SECONDS - started)) s"
exit "$failed"
