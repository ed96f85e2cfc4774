# Progress and failure output shared by scripts/stack/stack.sh and scripts/k8s/k8s.sh (each sets
# LOG_TAG first): everything goes to stderr, so stdout stays for env and status lines.

say() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$LOG_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }

# die_component <component> <reason> [logfile...]: names the failed component and shows its log tail.
die_component() {
  local comp=$1 reason=$2 f
  shift 2
  printf '\n[%s] ERROR: %s failed: %s\n' "$LOG_TAG" "$comp" "$reason" >&2
  for f in "$@"; do
    if [ -s "$f" ]; then
      printf '[%s] ---- last 40 lines of %s ----\n' "$LOG_TAG" "$f" >&2
      tail -n 40 "$f" >&2 || true
      printf '[%s] ---- end of %s ----\n' "$LOG_TAG" "$f" >&2
    fi
  done
  exit 1
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
