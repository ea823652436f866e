#!/usr/bin/env bash
# make demo: the R1 pipeline at toy scale. Until `r1 zero` lands (issue: the main job), this runs
# the first real checkpoint r1 can load.
set -euo pipefail
BUILD=$1
"$BUILD/r1" --help
