#!/bin/sh
# start.sh / stop.sh: the ctest fixture that brings the sandbox up and down.
exec "$CG_SRC/scripts/sandbox" "$@"
