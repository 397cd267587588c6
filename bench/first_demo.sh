#!/usr/bin/env bash
# From nothing to `make demo`'s first answer, the first ten minutes of a newcomer (bench/README, "LLM runtime").
#
#   bench/first_demo.sh [VENV] [PORT]      # e.g. PIP_NO_CACHE_DIR=1 bench/first_demo.sh /tmp/demo-venv 8731
#
# Removes VENV and a temporary data folder, runs `make demo VENV=... PORT=...` (which creates the venv, installs,
# indexes examples/docs and starts the server), asks one question as soon as the server listens, prints the
# seconds to the server's start and to the first answer, and stops the server. Set PIP_NO_CACHE_DIR=1 to time a
# machine whose pip cache is empty (downloads included).
set -u
cd "$(dirname "$0")/.."
VENV=${1:-/tmp/docent-first-demo-venv}
PORT=${2:-8731}
DATA=$(mktemp -d)
LOG=$(mktemp --suffix=.log)
rm -rf "$VENV"
start=$(date +%s.%N)
DOCENT_DATA_DIR="$DATA" make demo VENV="$VENV" PORT="$PORT" >"$LOG" 2>&1 &
make_pid=$!
until grep -q "Docent is starting" "$LOG"; do
    kill -0 "$make_pid" 2>/dev/null || { echo "make demo failed:"; tail -20 "$LOG"; exit 1; }
    sleep 1
done
serving=$(date +%s.%N)
installed=$(stat -c %Y "$VENV/.installed-runtime")
answer=""
for _ in $(seq 1 600); do
    answer=$(curl -s -m 120 "localhost:$PORT/v1/ask" -H 'Content-Type: application/json' \
        -d '{"question": "What is the nightly hotel cap in Tokyo?"}') && echo "$answer" | grep -q '"text"' && break
    sleep 1
done
answered=$(date +%s.%N)
echo "answer: ${answer:0:200}"
echo "install_s=$(echo "$installed - $start" | bc) to_server_start_s=$(echo "$serving - $start" | bc)" \
    "to_first_answer_s=$(echo "$answered - $start" | bc)"
server=$(ss -ltnp "sport = :$PORT" | grep -o "pid=[0-9]*" | head -1 | cut -d= -f2)
[ -n "$server" ] && kill "$server"
wait "$make_pid" 2>/dev/null
rm -rf "$DATA" "$LOG"
