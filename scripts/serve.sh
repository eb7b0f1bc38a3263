#!/usr/bin/env bash
# Serve the explorer from several Streamlit processes behind HAProxy, on one port:
#
#   bash scripts/serve.sh [--replicas N] [--port P] [--address A] [--tls PEM] [--users FILE]
#
# N replicas (default 2) listen on 127.0.0.1, ports P+1…P+N; HAProxy (deploy/haproxy.cfg, installed
# with apt-get the way setup installs the dataset) listens on A:P (default 127.0.0.1:8501), keeps
# each browser session on its replica with a cookie, passes WebSockets through and takes a replica
# that fails its health check out of rotation. EXPLORER_MODEL_DIR picks the model, as for the app;
# each replica runs each torch or BLAS call on one thread (EXPLORER_THREADS overrides). --tls serves HTTPS with a
# certificate and key in one PEM file; --users asks for HTTP basic authentication, FILE holding one
# `name:hash` per line (hash from `openssl passwd -6`), and needs --tls. Beyond 127.0.0.1 the
# replicas run in shared mode (docs/deploy.md): visitors pick among the allowed models only.
# Ctrl-C stops every process it started. Logs and the replicas' pids: $SERVE_DIR (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=2 port=8501 address=127.0.0.1 tls="" users=""
fail() { echo "serve.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) replicas=${2:-}; shift 2 || fail "--replicas: expected a number";;
    --port) port=${2:-}; shift 2 || fail "--port: expected a number";;
    --address) address=${2:-}; shift 2 || fail "--address: expected an address";;
    --tls) tls=${2:-}; shift 2 || fail "--tls: expected a PEM file";;
    --users) users=${2:-}; shift 2 || fail "--users: expected a file";;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) fail "$1: unknown option (see --help)";;
  esac
done
[[ "$replicas" =~ ^[1-9][0-9]?$ ]] || fail "--replicas $replicas: expected a number from 1 to 99"
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ $((port + replicas)) -le 65535 ] \
  || fail "--port $port: expected a port from 1 to $((65535 - replicas))"
if [ -n "$tls" ]; then
  [ -r "$tls" ] || fail "--tls $tls: not a readable file"
  grep -q "BEGIN CERTIFICATE" "$tls" && grep -q "PRIVATE KEY" "$tls" \
    || fail "--tls $tls: expected a certificate and its private key in one PEM file"
  tls=$(realpath "$tls")
fi
if [ -n "$users" ]; then
  [ -n "$tls" ] || fail "--users needs --tls: basic authentication sends the password with every request"
  [ -r "$users" ] || fail "--users $users: not a readable file"
  bad=$(grep -nvE '^(#.*|[A-Za-z0-9._-]+:\$[0-9a-z]+\$[^[:space:]]+)?[[:space:]]*$' "$users" | head -1 | cut -d: -f1 || true)
  [ -z "$bad" ] || fail "--users $users, line $bad: expected name:hash (a hash from openssl passwd -6, not a password)"
  grep -qE '^[A-Za-z0-9._-]+:' "$users" || fail "--users $users: no user in it"
fi
PY=.venv/bin/python
[ -x "$PY" ] || fail ".venv is missing: run bash scripts/setup.sh first"
if ! command -v haproxy >/dev/null; then
  source scripts/apt.sh
  apt_install haproxy || fail "HAProxy is needed (Debian package haproxy)"
fi

# Every port must be free before anything starts: one line naming the first that is not.
for p in "$port" $(seq $((port + 1)) $((port + replicas))); do
  host=127.0.0.1; [ "$p" = "$port" ] && host=$address
  "$PY" -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind((sys.argv[1], int(sys.argv[2])))
except OSError as e: sys.exit(f"serve.sh: port {sys.argv[2]} on {sys.argv[1]} is in use or not available ({e.strerror})")' \
    "$host" "$p" || exit 1
done

SERVE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/explorer-serve.XXXXXX")
pids=()
stop() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "serve.sh: stopped (logs in $SERVE_DIR)"
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

# The same cookie secret everywhere: the XSRF token an upload carries stays valid on any replica.
secret=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
# One thread per call, as a single server has by default (views/cached.py): the sessions and the
# replicas are the parallelism; N processes each using every core for torch would fight over them.
threads=${EXPLORER_THREADS:-1}
# The replicas listen on 127.0.0.1 but serve whoever reaches HAProxy: beyond this machine, visitors.
case "$address" in 127.0.0.1|localhost|::1) shared=${EXPLORER_SHARED:-0};; *) shared=${EXPLORER_SHARED:-1};; esac
details=full; [ "$shared" = 1 ] && details=none   # no tracebacks (and server paths) for visitors
# Shared: smaller uploads (explorer/sharing.py says why); STREAMLIT_SERVER_MAX_UPLOAD_SIZE overrides.
upload_mb=$(grep -oP '^maxUploadSize = \K[0-9]+' .streamlit/config.toml)
[ "$shared" = 1 ] && upload_mb=$("$PY" -c 'from explorer.sharing import SHARED_UPLOAD_MB; print(SHARED_UPLOAD_MB)')
upload_mb=${STREAMLIT_SERVER_MAX_UPLOAD_SIZE:-$upload_mb}
if [ "$shared" = 1 ] && [ -z "$users" ]; then
  echo "serve.sh: listening on $address without --users: anyone who reaches it can use the explorer" >&2
fi
config=$SERVE_DIR/haproxy.cfg
cp deploy/haproxy.cfg "$config"
for i in $(seq 1 "$replicas"); do
  p=$((port + i))
  EXPLORER_SHARED=$shared STREAMLIT_SERVER_COOKIE_SECRET=$secret EXPLORER_THREADS=$threads OMP_NUM_THREADS=$threads \
    "$PY" -m streamlit run streamlit_app.py --client.showErrorDetails "$details" --server.maxUploadSize "$upload_mb" \
    --server.headless true --server.address 127.0.0.1 --server.port "$p" \
    --browser.gatherUsageStats false --server.fileWatcherType none >"$SERVE_DIR/r$i.log" 2>&1 &
  pids+=($!)
  echo "r$i $! $p" >>"$SERVE_DIR/replicas"
  echo "    server r$i 127.0.0.1:$p cookie r$i" >>"$config"
done

# Wait for the replicas' health URLs (the first start imports torch and loads the model).
"$PY" - "$SERVE_DIR" <<'EOF' || exit 1
import os, sys, time, urllib.request
deadline = time.time() + 180
for line in open(f"{sys.argv[1]}/replicas"):
    name, pid, port = line.split()
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        log = f"{sys.argv[1]}/{name}.log"
        if not os.path.exists(f"/proc/{pid}"):
            last = open(log).read().strip().splitlines()[-1:] or ["no output"]
            sys.exit(f"serve.sh: replica {name} (port {port}) exited at start: {last[0][:200]} (see {log})")
        if time.time() > deadline:
            sys.exit(f"serve.sh: replica {name} (port {port}) did not start in 180 s (see {log})")
        time.sleep(0.3)
EOF

if [ -n "$users" ]; then
  { echo; echo "userlist visitors"
    grep -E '^[A-Za-z0-9._-]+:' "$users" | while IFS=: read -r name hash; do echo "    user $name password $hash"; done
  } >>"$config"
  export EXPLORER_USERS=1
fi
[ -n "$tls" ] && export EXPLORER_TLS=$tls
EXPLORER_ADDRESS=$address EXPLORER_PORT=$port haproxy -q -c -f "$config" \
  || fail "$config: HAProxy refused the configuration"
EXPLORER_ADDRESS=$address EXPLORER_PORT=$port haproxy -db -f "$config" >"$SERVE_DIR/haproxy.log" 2>&1 &
haproxy_pid=$!
pids+=("$haproxy_pid")
"$PY" - "$address" "$port" <<'EOF' || { echo "serve.sh: HAProxy did not start (see $SERVE_DIR/haproxy.log)" >&2; exit 1; }
import socket, sys, time
host = "127.0.0.1" if sys.argv[1] in ("0.0.0.0", "::") else sys.argv[1]
for _ in range(100):
    try:
        socket.create_connection((host, int(sys.argv[2])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
echo "serve.sh: http${tls:+s}://$address:$port → $replicas replicas on 127.0.0.1:$((port + 1))–$((port + replicas));" \
     "logs and pids in $SERVE_DIR; Ctrl-C stops all"

# Report replicas that stop; HAProxy's health check already sends their users elsewhere.
declare -A reported=()
while true; do
  wait -n || true
  kill -0 "$haproxy_pid" 2>/dev/null || { echo "serve.sh: HAProxy stopped (see $SERVE_DIR/haproxy.log)" >&2; exit 1; }
  alive=0
  for i in $(seq 1 "$replicas"); do
    pid=${pids[$((i - 1))]}
    if kill -0 "$pid" 2>/dev/null; then
      alive=$((alive + 1))
    elif [ -z "${reported[$i]:-}" ]; then
      reported[$i]=1
      echo "serve.sh: replica r$i (port $((port + i))) stopped; its sessions move to the others" >&2
    fi
  done
  [ "$alive" -gt 0 ] || { echo "serve.sh: every replica has stopped" >&2; exit 1; }
done
