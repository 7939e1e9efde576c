# gpuform node coverage (tests/nodecov): bash sources this file first through BASH_ENV, so
# every script run traces its own lines to a file of its own, named by the script's sha256,
# and leaves a copy of itself beside it. Only `make node-coverage` sets GPUFORM_NODECOV_DIR.
# Trace lines: PS4 carries the source file and line; BASH_XTRACEFD keeps them off stderr,
# whose lines the boot checks count.
# Tools by absolute path: a test may run a script with a PATH of stand-ins alone.
if [ -n "${GPUFORM_NODECOV_DIR:-}" ] && [ -f "$0" ]; then
  __gfcov_id=$(/usr/bin/sha256sum <"$0" 2>/dev/null) && __gfcov_id=${__gfcov_id%% *}
  if [ -n "${__gfcov_id:-}" ] && /usr/bin/mkdir -p "$GPUFORM_NODECOV_DIR/src" "$GPUFORM_NODECOV_DIR/trace" 2>/dev/null; then
    if [ ! -e "$GPUFORM_NODECOV_DIR/src/$__gfcov_id" ]; then
      /usr/bin/cp "$0" "$GPUFORM_NODECOV_DIR/src/$__gfcov_id.$$" 2>/dev/null \
        && /usr/bin/mv -f "$GPUFORM_NODECOV_DIR/src/$__gfcov_id.$$" "$GPUFORM_NODECOV_DIR/src/$__gfcov_id"
    fi
    __gfcov_log=$GPUFORM_NODECOV_DIR/trace/$__gfcov_id.$$.$RANDOM
    # exec's redirections stay: one on stderr here would silence the script's own.
    if : 2>/dev/null >>"$__gfcov_log" && exec {__gfcov_fd}>>"$__gfcov_log"; then
      printf '#gfcov %s\n' "$0" >&"$__gfcov_fd"
      BASH_XTRACEFD=$__gfcov_fd
      PS4='+@gfcov@${BASH_SOURCE[0]-}@${LINENO}@ '
      set -x
    fi
  fi
fi
