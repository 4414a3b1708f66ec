#!/usr/bin/env bash
# Run one stage of `make test`, print how long it took and whether it passed,
# and add that line to the stage log printed at the end of the run.
#   scripts/stage.sh NAME COMMAND [ARG...]
set -uo pipefail
name=$1
shift
log=${RAGOPS_STAGE_LOG:-tests/output/stages.txt}
mkdir -p "$(dirname "$log")"
start=$(date +%s)
"$@"
status=$?
elapsed=$(($(date +%s) - start))
if [ "$status" -eq 0 ]; then result=ok; else result="FAILED (exit $status)"; fi
line=$(printf '%-22s %3dm%02ds  %s' "$name" $((elapsed / 60)) $((elapsed % 60)) "$result")
printf '[stage] %s\n' "$line"
printf '%s\n' "$line" >>"$log"
exit "$status"
