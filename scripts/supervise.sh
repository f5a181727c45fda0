# supervise NAME COMMAND (sourced by scripts/serve.sh): runs COMMAND until this shell is sent
# SIGTERM or SIGINT (passed on to it; then it waits for the command to finish), restarting it
# whenever it exits: after 1 s, doubling to at most 30 s while it keeps dying, back to 1 s once it
# ran for HEALTHY_RUN_SECONDS.
# As serve.sh checked it (smolpix/environment.py): blank is unset, and 010 is ten, not octal.
HEALTHY_RUN_SECONDS=${SERVE_HEALTHY_RUN_SECONDS:-}
HEALTHY_RUN_SECONDS=${HEALTHY_RUN_SECONDS//[[:space:]]/}
HEALTHY_RUN_SECONDS=$((10#${HEALTHY_RUN_SECONDS:-60}))
say() { echo "$@" 2>/dev/null || true; }  # a line of the log; its output closed is no reason to stop
supervise() {
  local name=$1 command=$2 delay=1 child status started stopping=""
  trap 'stopping=yes; [ -n "${child:-}" ] && kill -TERM "$child" 2>/dev/null' TERM INT
  while :; do
    say "serve: starting $name: $command"
    started=$SECONDS
    bash -c "exec $command" &
    child=$!
    # Told to stop while starting it (the trap signalled the one before): it is told now.
    if [ -n "$stopping" ]; then kill -TERM "$child" 2>/dev/null || true; fi
    status=0
    wait "$child" || status=$?
    # A trapped signal interrupts `wait`: wait again, for the process to finish its shutdown.
    while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
    [ -n "$stopping" ] && return 0
    # A process that ran for a while before it died is not one that keeps dying: restart it at once
    # (after a few crashes hours apart, each one was an outage of 30 s).
    if ((SECONDS - started >= HEALTHY_RUN_SECONDS)); then delay=1; fi
    say "serve: $name exited with status $status; restarting it in ${delay} s"
    sleep "$delay" & wait $! || true
    [ -n "$stopping" ] && return 0
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
  done
}
