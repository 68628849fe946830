# shellcheck shell=bash
# Shared helpers for deploy/slurm-testcluster/{up,down,status}. Sourced, not run.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER="${QUOTAD_TEST_CLUSTER:-quotad-test}"
DIR="${QUOTAD_TESTCLUSTER_DIR:-/var/lib/quotad-testcluster}"
TEST_USER="${QUOTAD_TESTCLUSTER_USER-quotadtest}"   # set to "" to skip the normal user
SMOKE_TIMEOUT="${QUOTAD_TESTCLUSTER_SMOKE_TIMEOUT:-120}"
DECAY_HALFLIFE="${QUOTAD_TEST_DECAY_HALFLIFE:-0}"     # 0 = usage never decays (grant semantics)
USAGE_RESET="${QUOTAD_TEST_USAGE_RESET:-NONE}"
ACCOUNTS=(acme sakura fuji)

SLURM_USER=slurm
ETC=/etc/slurm
LOG="$DIR/log"
RUN="$DIR/run"
MARKER="quotad-testcluster: generated file"
DB_NAME=slurm_acct_db
DB_USER=slurm
NODE="$(hostname -s)"

export DEBIAN_FRONTEND=noninteractive
export SLURM_CONF="$ETC/slurm.conf"
unset SLURM_TIME_FORMAT || true

MYSQL=(mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot --batch --skip-column-names)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

need_root() {
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "error: $(basename "$0") must run as root (it installs packages, writes /etc/slurm and starts daemons)" >&2
        exit 2
    fi
}

show_logs() {
    local n="${1:-40}" f
    echo "----- quotad-testcluster logs ($LOG) -----" >&2
    for f in munged slurmdbd slurmctld slurmd; do
        if [[ -s "$LOG/$f.log" ]]; then
            echo "===== tail -n $n $LOG/$f.log =====" >&2
            tail -n "$n" "$LOG/$f.log" >&2 || true
        fi
        if [[ -s "$LOG/$f.stdout" ]]; then
            echo "===== $LOG/$f.stdout =====" >&2
            tail -n "$n" "$LOG/$f.stdout" >&2 || true
        fi
    done
    echo "----- end of logs -----" >&2
}

die() {
    trap - ERR
    echo "error: $*" >&2
    # inside $(...): the caller fails next and prints the logs once
    ((BASH_SUBSHELL == 0)) || exit 1
    show_logs 40
    exit 1
}

# pid of a daemon, or "" if not running: from its pidfile if /proc/PID/comm
# matches, else the oldest live process with that exact comm (lost pidfile).
# Uses comm (world-readable), not exe: /usr/sbin/slurm* are alternatives
# symlinks to *-wlm, and non-root users cannot read /proc/PID/exe. Zombies
# (PID 1 here reaps slowly) do not count. slurmctld's child is "slurmscriptd".
_live() {  # _live PID NAME
    [[ -r "/proc/$1/stat" ]] && [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]] \
        && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}
daemon_pid() {
    local name="$1" pidfile="$RUN/$1.pid" pid="" p
    [[ -r "$pidfile" ]] && pid="$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && _live "$pid" "$name"; then
        echo "$pid"
        return 0
    fi
    for p in $(pgrep -x "$name" 2>/dev/null | sort -n); do
        if _live "$p" "$name"; then echo "$p"; return 0; fi
    done
    echo ""
}

is_running() { [[ -n "$(daemon_pid "$1")" ]]; }

# wait_for SECONDS DESCRIPTION CMD...: poll CMD once a second until it succeeds
wait_for() {
    local timeout="$1" what="$2" i
    shift 2
    for ((i = 0; i < timeout; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    return 1
}

munge_ok()     { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
mariadb_ok()   { mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }
dbd_ok()       { timeout 15 sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; }
ctld_ok()      { timeout 15 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state()   { timeout 15 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1; }
node_ok()      { [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing|planned|reserved)$ ]]; }
cluster_registered() {
    timeout 15 sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"
}
accounts_ok() {
    local have a
    have="$(timeout 15 sacctmgr -n -P list assoc cluster="$CLUSTER" user=root format=account 2>/dev/null)" || return 1
    for a in "${ACCOUNTS[@]}"; do grep -qx "$a" <<<"$have" || return 1; done
}

stop_daemon() {  # stop_daemon NAME
    local pid i
    pid="$(daemon_pid "$1")"
    [[ -n "$pid" ]] || return 0
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && return 0
        sleep 0.5
    done
    log "$1 (pid $pid) ignored SIGTERM for 15s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
}
