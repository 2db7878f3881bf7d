#!/usr/bin/env bash
# The whole pytest suite as two pytest processes at once: tests/e2e and tests/bench (browser
# and whole-stack tests, which spend most of their time waiting on other processes and on the
# sync's own timers) beside every other folder (which keeps a core busy). Together they take
# about as long as the longer of the two, not the sum. The whole-stack lane's output is
# written to a file and shown once the other lane is done; each lane prints its 15 slowest
# tests. Fails if either lane fails.
#
# Both lanes read the caller's environment. Where it names shared servers (CI's PostgreSQL
# pass), the whole-stack lane needs its own: STACKS_DATABASE_URL, STACKS_CELERY_BROKER_URL
# and STACKS_CACHE_URL stand in for DATABASE_URL, CELERY_BROKER_URL and CACHE_URL there
# (pytest-django's test database is named after the URL's, and tests clear the cache).
# Arguments go to both pytest processes (options, not paths).
#
# SUITE_THEN: a command run once the other lane is done, beside the whole-stack lane if it is
# still running, whose CPU it mostly leaves idle (CI's API fuzzing); its failure fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."

STACKS=(tests/e2e tests/bench)
LOG=$(mktemp "${TMPDIR:-/tmp}/cockpit-stacks-lane.XXXXXX")
# Job control: the background lane gets its own process group and keeps SIGINT (a script's
# background jobs ignore it otherwise), so Ctrl-C reaches it and pytest stops its stacks.
set -m
(
  for name in DATABASE_URL CELERY_BROKER_URL CACHE_URL; do
    lane="STACKS_$name"
    if [ -n "${!lane:-}" ]; then export "$name=${!lane}"; fi
  done
  # No cache: the other lane keeps pytest's (last failures for --lf), and two would clash.
  exec .venv/bin/pytest -p no:cacheprovider "$@" "${STACKS[@]}"
) >"$LOG" 2>&1 &
stacks=$!
trap 'kill -INT -- "-$stacks" 2>/dev/null' INT TERM
echo "== pytest: ${STACKS[*]} in the background (output below when the rest is done)"

started=$SECONDS
.venv/bin/pytest "$@" "${STACKS[@]/#/--ignore=}"
rest=$?
echo "== the rest: $((SECONDS - started)) s"
then=0
if [ -n "${SUITE_THEN:-}" ]; then
  echo "== $SUITE_THEN (beside ${STACKS[*]} if it is still running)"
  bash -c "$SUITE_THEN"
  then=$?
  echo "== $SUITE_THEN: $([ "$then" -eq 0 ] && echo passed || echo "FAILED ($then)")"
fi
echo "== waiting for ${STACKS[*]}"
wait "$stacks"
lane=$?
while kill -0 "$stacks" 2>/dev/null; do wait "$stacks"; lane=$?; done  # a trap cut the wait
echo "== pytest ${STACKS[*]} (took $((SECONDS - started)) s in all):"
cat "$LOG"
rm -f "$LOG"
[ "$rest" -eq 0 ] && [ "$lane" -eq 0 ] && [ "$then" -eq 0 ]
