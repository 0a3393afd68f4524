#!/bin/sh
# The image's entrypoint: the one place that decides how the container runs.
#
#   DB_REPLICA_URL unset           -> the app alone, with a loud warning
#   PID 1 (Docker, Kubernetes, ...) -> s6-overlay's /init: restore, then Litestream + app
#   not PID 1, namespaces allowed  -> /init as PID 1 of a new PID namespace (Fly.io)
#   not PID 1, no namespaces       -> restore, then `litestream replicate -exec` (Heroku),
#                                     then one last sync (logpaste-final-sync)
#
# The container's arguments go to the app unchanged. They travel shell-quoted in
# LOGPASTE_ARGS (see logpaste-launch): an environment variable reaches the app through
# s6-overlay and through `litestream replicate -exec`, which takes a single string and
# splits it itself, so it would mangle quotes, `$` and spaces in a footer.
#
# Every path can be overridden so the tests can run this script on a host:
#   LOGPASTE_BIN, LITESTREAM_BIN, LITESTREAM_CONFIG, S6_INIT, and
#   LOGPASTE_RUN_MODE = auto (default) | s6 | unshare | litestream-exec.
set -eu

LOGPASTE_BIN="${LOGPASTE_BIN:-/usr/local/bin/logpaste}"
LITESTREAM_BIN="${LITESTREAM_BIN:-/usr/local/bin/litestream}"
LITESTREAM_CONFIG="${LITESTREAM_CONFIG:-/etc/litestream.yml}"
S6_INIT="${S6_INIT:-/init}"
mode="${LOGPASTE_RUN_MODE:-auto}"

# Litestream and the app must agree on the file: give Litestream the app's default, and
# make it absolute. s6-supervise starts each service in its own service directory, not
# in the image's working directory, so a relative path would name a different file for
# the restore, Litestream and the app: replication would silently watch an empty one.
DB_PATH="${DB_PATH:-data/store.db}"
case "$DB_PATH" in
  /*) ;;
  *) DB_PATH="$(pwd -P)/$DB_PATH" ;;
esac
DB_SYNC_INTERVAL="${DB_SYNC_INTERVAL:-1s}"
export LOGPASTE_BIN LITESTREAM_BIN LITESTREAM_CONFIG DB_PATH DB_SYNC_INTERVAL

log() {
  echo "docker_entrypoint: $*" >&2
}

# Prints the arguments as one string that `eval "set -- $string"` turns back into them.
shell_quote() {
  quoted=""
  for arg in "$@"; do
    rest="$arg"
    piece=""
    while :; do
      case "$rest" in
        *"'"*)
          piece="$piece${rest%%"'"*}'\\''"
          rest="${rest#*"'"}"
          ;;
        *)
          piece="$piece$rest"
          break
          ;;
      esac
    done
    quoted="$quoted '$piece'"
  done
  printf '%s' "$quoted"
}

# unshare(1) keeps SIGTERM and SIGINT for itself and does not pass them on, so the
# namespace's init would never hear `docker stop` or `fly machine stop`: forward them.
namespace_init_pid() {
  parent="$1"
  children="/proc/$parent/task/$parent/children"
  child=""
  if [ -r "$children" ]; then
    read -r child _ < "$children" || true
    [ -n "${child:-}" ] && { echo "$child"; return 0; }
  fi
  for stat in /proc/[0-9]*/stat; do
    line=$(cat "$stat" 2>/dev/null) || continue
    fields="${line##*) }"
    # shellcheck disable=SC2086 # split "state ppid ..." into fields on purpose
    set -- $fields
    if [ "${2:-}" = "$parent" ]; then
      pid="${stat#/proc/}"
      echo "${pid%/stat}"
      return 0
    fi
  done
  return 1
}

# Waits for the background process $1 and sets child_status to its exit status. The
# traps that forward stop signals set interrupted=1: a trapped signal cuts `wait` short.
wait_for_child() {
  child_pid="$1"
  child_status=0
  while :; do
    interrupted=0
    if wait "$child_pid"; then child_status=0; else child_status=$?; fi
    if [ "$interrupted" = 1 ] && kill -0 "$child_pid" 2>/dev/null; then
      continue
    fi
    break
  done
  # A signal may have cut the last wait short: ask once more for the real exit status.
  if [ "$interrupted" = 1 ]; then
    final=0
    wait "$child_pid" 2>/dev/null || final=$?
    [ "$final" = 127 ] || child_status=$final
  fi
}

forward_signal() {
  interrupted=1
  # s6-overlay's init shuts down cleanly on SIGTERM; Fly.io stops machines with SIGINT.
  child=$(namespace_init_pid "$ns_parent") || return 0
  kill -TERM "$child" 2>/dev/null || true
}

run_init_in_new_pid_namespace() {
  unshare --pid --fork --mount-proc "$S6_INIT" &
  ns_parent=$!
  trap 'forward_signal' TERM INT HUP QUIT
  wait_for_child "$ns_parent"
  exit "$child_status"
}

forward_stop_to_litestream() {
  interrupted=1
  [ "$stop_forwarded" = 0 ] || return 0
  stop_forwarded=1
  stop_started=$(uptime_centis)
  # The stop goes to the app, Litestream's child: Litestream sees it exit and makes its
  # final sync, as it would after passing a signal of its own on to it. Not to Litestream:
  # Heroku sends SIGTERM to every process of the dyno, Litestream included, and Litestream
  # takes a second signal as "skip the retries of the final sync". Only before Litestream
  # has started the app does the stop go to Litestream itself.
  apps=$(children_of "$litestream_pid")
  if [ -n "$apps" ]; then
    # shellcheck disable=SC2086 # one PID per word
    kill -TERM $apps 2>/dev/null || true
  else
    kill -TERM "$litestream_pid" 2>/dev/null || true
  fi
  stop_watchdog &
}

# Hundredths of a second since boot (/proc/uptime has two decimals): the watchdog and the
# last pass count from the stop on this clock, not by adding up sleeps, which a loaded
# machine stretches.
uptime_centis() {
  read -r up _ </proc/uptime
  # The "1" before the two decimals keeps "08" from being read as octal.
  echo $((${up%.*} * 100 + 1${up#*.} - 100))
}

# The PIDs of the processes $1 started (each thread lists its own: Go forks from any).
children_of() {
  cat /proc/"$1"/task/*/children 2>/dev/null || true
}

# Whether any of these PIDs is still a process: not gone, and not a zombie (an app that has
# exited but that a hung Litestream has not reaped still answers kill -0).
any_running() {
  for pid in "$@"; do
    stat=$(cat /proc/"$pid"/stat 2>/dev/null) || continue
    state=${stat##*) }
    [ "${state%% *}" = Z ] || return 0
  done
  return 1
}

# A stopped Litestream is done within the app's 10 s for its requests plus its own last
# sync (shutdown-sync-timeout: 5s). One that is still there after LITESTREAM_STOP_LIMIT
# seconds hangs (seen once, on a machine loaded far past its cores: it waited for the app
# after the app had stopped), and the platform's SIGKILL at 30 s would leave no last sync.
# So the app is stopped if it still runs (killed if it does not stop either), Litestream is
# killed, and the entrypoint goes on to the last pass, shortened to fit.
LITESTREAM_STOP_LIMIT="${LOGPASTE_LITESTREAM_STOP_LIMIT:-17}"
# What the platforms give a stop before their SIGKILL.
PLATFORM_STOP_GRACE=30
stop_watchdog() {
  trap - TERM INT HUP QUIT
  while [ $(($(uptime_centis) - stop_started)) -lt $((LITESTREAM_STOP_LIMIT * 100)) ]; do
    sleep 1
    kill -0 "$litestream_pid" 2>/dev/null || exit 0
  done
  log "WARNING: Litestream has not stopped ${LITESTREAM_STOP_LIMIT}s after the stop: killing it"
  apps=$(children_of "$litestream_pid")
  if [ -n "$apps" ]; then
    # shellcheck disable=SC2086 # one PID per word
    kill -TERM $apps 2>/dev/null || true
    for _ in 1 2 3 4; do
      # shellcheck disable=SC2086
      any_running $apps || break
      sleep 0.5
    done
    # An app still there is hung too. Killed, it loses nothing acknowledged (each paste was
    # committed before its answer), and it cannot write after the last pass: outside a PID
    # namespace nothing else would end it once we exit.
    # shellcheck disable=SC2086
    if any_running $apps; then
      log "WARNING: the app has not stopped 2s after its own stop signal: killing it"
      # shellcheck disable=SC2086
      kill -KILL $apps 2>/dev/null || true
    fi
  fi
  kill -KILL "$litestream_pid" 2>/dev/null || true
}

# Litestream runs the app as its child and stops when the app exits. We stay around
# (rather than exec) for one last sync after it: Litestream stopped within a second of
# its start exits without a final sync (see logpaste-final-sync). The container exits
# with Litestream's status (0 when the app stopped cleanly, 1 when the app failed),
# or 1 if Litestream succeeded but the last sync did not.
run_litestream_exec() {
  logpaste-as-user "$LITESTREAM_BIN" replicate -config "$LITESTREAM_CONFIG" \
    -exec logpaste-launch &
  litestream_pid=$!
  stop_forwarded=0
  stop_started=""
  trap 'forward_stop_to_litestream' TERM INT HUP QUIT
  wait_for_child "$litestream_pid"
  status=$child_status
  if [ "$status" = 137 ]; then
    # Killed by the watchdog: what is left of the platform's 30 s is for the last pass,
    # and the container reports the failure (1, as for a failed last sync).
    # At most 8 s, less if the watchdog ran late: the pass's limit, the 3 s before
    # logpaste-final-sync kills a hung Litestream, and a second to spare.
    status=1
    now=$(uptime_centis)
    left=$((PLATFORM_STOP_GRACE - (now - ${stop_started:-$now} + 99) / 100 - 3 - 1))
    [ "$left" -le 8 ] || left=8
    [ "$left" -ge 1 ] || left=1
    LOGPASTE_FINAL_SYNC_TIMEOUT="${LOGPASTE_FINAL_SYNC_TIMEOUT:-$left}"
    export LOGPASTE_FINAL_SYNC_TIMEOUT
  fi
  if ! logpaste-final-sync; then
    [ "$status" != 0 ] || status=1
  fi
  exit "$status"
}

if [ -z "${DB_REPLICA_URL:-}" ]; then
  log "WARNING: ================================================================"
  log "WARNING: DB_REPLICA_URL is not set: replication is OFF."
  log "WARNING: Every paste lives only in $DB_PATH on this machine's disk"
  log "WARNING: and is lost with it. Set DB_REPLICA_URL (and the bucket's"
  log "WARNING: credentials) to stream the database to S3-compatible storage."
  log "WARNING: ================================================================"
  exec logpaste-as-user "$LOGPASTE_BIN" "$@"
fi

# Litestream's settings, checked before anything runs: a bad one would otherwise show as
# a YAML error followed by "cannot restore". One line names the setting; no value is
# printed but the interval's (never a secret).
setting_error() {
  log "ERROR: $*"
  exit 2
}

newline='
'
# litestream.yml puts these between single quotes, where a ' ends the value early and a
# line break changes it.
check_quotable() {
  case "$2" in
    *"'"* | *"$newline"*)
      setting_error "$1 contains a ' or a line break, which Litestream's configuration cannot carry"
      ;;
  esac
}
check_quotable DB_PATH "$DB_PATH"
check_quotable DB_REPLICA_URL "$DB_REPLICA_URL"
check_quotable LITESTREAM_ACCESS_KEY_ID "${LITESTREAM_ACCESS_KEY_ID:-}"
check_quotable LITESTREAM_SECRET_ACCESS_KEY "${LITESTREAM_SECRET_ACCESS_KEY:-}"
check_quotable LITESTREAM_REGION "${LITESTREAM_REGION:-}"
check_quotable LITESTREAM_ENDPOINT "${LITESTREAM_ENDPOINT:-}"

# The scheme as Litestream reads it: up to the first ':', in any case (S3:// works). Only
# a real scheme, right before ":/", is ever shown: in `KEY:SECRET@bucket/p?endpoint=https://..`
# the word before the first ':' is a credential.
scheme=""
if printf '%s\n' "$DB_REPLICA_URL" | LC_ALL=C grep -Eq '^[A-Za-z][A-Za-z0-9+.-]*:/'; then
  scheme=$(printf '%s' "${DB_REPLICA_URL%%:*}" | tr '[:upper:]' '[:lower:]')
fi
# Litestream 0.3 (LogPaste's image) named Google Cloud Storage gcs://, as LogPaste's
# Cloud Run guide does; Litestream 0.5 knows it only as gs://.
if [ "$scheme" = gcs ]; then
  DB_REPLICA_URL="gs:${DB_REPLICA_URL#*:}"
  scheme=gs
  export DB_REPLICA_URL
fi
case "$scheme" in
  s3 | gs | abs | file | sftp | nats | oss | webdav | webdavs) ;;
  "" | *[!a-z0-9+.-]*)
    setting_error "DB_REPLICA_URL must start with a scheme, e.g. s3://my-bucket/logpaste"
    ;;
  *)
    setting_error "DB_REPLICA_URL: Litestream does not know the scheme '$scheme'; use" \
      "s3://bucket/path (or gs, abs, sftp, file, nats, oss, webdav)"
    ;;
esac

# A URL Go's net/url cannot parse makes Litestream fail with the whole URL in its message
# (`parse "sftp://user:pass/word@host/p": invalid port`), password included, and the
# restore line would show part of it. The usual cause is a password written into the URL
# as is: a '/', '?', '#', '%', space or other character outside RFC 3986's user-info set
# must be percent-encoded there. So the URL must parse as Go parses it: no control
# characters; user-info of RFC 3986's characters; a host without spaces or such, with a
# port of digits only after its last ':'; and every '%' in the user-info, host, path and
# fragment starting a %XX escape (Go leaves the query to be parsed later).
url_syntax_error() {
  setting_error "DB_REPLICA_URL does not parse as a URL ($1); percent-encode any" \
    "'/', '?', '#', '%', space or other special character of a user name or password" \
    "written into it (e.g. / as %2F)"
}
case "$DB_REPLICA_URL" in
  *[[:cntrl:]]*) url_syntax_error "it contains a control character" ;;
esac
pct='%[0-9A-Fa-f][0-9A-Fa-f]'
after_scheme="${DB_REPLICA_URL#*:}"
case "$after_scheme" in
  //*)
    user_info="(([A-Za-z0-9._~!\$&'()*+,;=:@-]|$pct)*@)?"
    host_char="([A-Za-z0-9._~!\$&'()*+,;=<>\"-]|$pct|[^ -~])"
    host="(\[[^]]*\](:[0-9]*)?|$host_char*|($host_char|:)*:[0-9]*)"
    url_syntax="//$user_info$host(/([^?#%]|$pct)*)?(\?[^#]*)?(#([^%]|$pct)*)?"
    ;;
  *) url_syntax="([^?#%]|$pct)*(\?[^#]*)?(#([^%]|$pct)*)?" ;;
esac
if ! printf '%s\n' "$after_scheme" | LC_ALL=C grep -Eqx "$url_syntax"; then
  url_syntax_error "Go's URL parser refuses it"
fi

# A Go duration, as Litestream parses it: number-unit pairs such as 1s, 500ms, 1m30s; above 0.
go_duration='[+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+'
case "$DB_SYNC_INTERVAL" in
  *"$newline"*) setting_error "DB_SYNC_INTERVAL contains a line break" ;;
esac
if ! printf '%s\n' "$DB_SYNC_INTERVAL" | grep -Eqx "$go_duration"; then
  setting_error "DB_SYNC_INTERVAL='$DB_SYNC_INTERVAL' is not a duration such as 1s, 500ms or 1m"
fi
case "$DB_SYNC_INTERVAL" in
  *[1-9]*) ;;
  *) setting_error "DB_SYNC_INTERVAL='$DB_SYNC_INTERVAL' must be more than 0" ;;
esac

LOGPASTE_ARGS=$(shell_quote "$@")
export LOGPASTE_ARGS

if [ "$mode" = auto ]; then
  if [ "$$" = 1 ]; then
    mode=s6
  elif unshare --pid --fork --mount-proc true >/dev/null 2>&1; then
    mode=unshare
  else
    mode=litestream-exec
  fi
fi

case "$mode" in
  s6)
    log "PID 1: handing over to s6-overlay (restore, then Litestream and the app)"
    exec "$S6_INIT"
    ;;
  unshare)
    log "not PID 1: running s6-overlay as PID 1 of a new PID namespace"
    run_init_in_new_pid_namespace
    ;;
  litestream-exec)
    log "not PID 1 and no PID namespace allowed: restore, then Litestream runs the app"
    logpaste-restore
    run_litestream_exec
    ;;
  *)
    log "unknown LOGPASTE_RUN_MODE '$mode' (auto, s6, unshare or litestream-exec)"
    exit 2
    ;;
esac
