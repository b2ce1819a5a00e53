# Shared by the VM tests that run under `test/vm/run --init systemd`: the
# guest's systemd is PID 1, ccdevd is installed from the build (meson
# install) and runs as the real ccdevd.service on the real system bus.  This
# is lib-lease.sh (TAP, lease-client, the bus helpers) with the service in
# place of a daemon started by hand: $daemon_pid is the unit's main process,
# and the daemon's log (log_mark, log_has, teardown_is, ...) is read from
# the journal.  Source it instead of lib-lease.sh.
lease_no_modprobe=1 # the unit loads vfio-pci and iommufd
. "${CCDEVD_SOURCE:?CCDEVD_SOURCE must point at the source directory}/test/vm/lib-lease.sh"

if [ "$(readlink /proc/1/exe)" != /usr/lib/systemd/systemd ] &&
	[ "$(readlink /proc/1/exe)" != /lib/systemd/systemd ]; then
	echo "Bail out! PID 1 is not systemd: run this under test/vm/run --init systemd"
	exit 1
fi

unit=ccdevd.service
journal_follow_pid=

# The daemon is the unit's: leave it to the test (the guest powers off).
cleanup_bus() { rm -rf "$tmp"; }

# Where the installed daemon reads its configuration: SYSCONFDIR of the
# build, the prefix's (e.g. /usr/local/etc with prefix /usr/local).
sysconfdir=$(sed -n 's/^#define SYSCONFDIR "\(.*\)"$/\1/p' "$build/build-config.h")
[ -n "$sysconfdir" ] || { echo "Bail out! no SYSCONFDIR in $build/build-config.h"; exit 1; }
service_config_path=$sysconfdir/ccdevd/ccdevd.json

# service_config JSON: the daemon's configuration file (read at its start
# and on ExecReload).
service_config() {
	mkdir -p "${service_config_path%/*}"
	printf '%s\n' "$1" >"$service_config_path"
}

# service_prop NAME: a property of ccdevd.service (systemctl show).
service_prop() { systemctl show -P "$1" "$unit"; }
service_pid() { service_prop MainPID; }

# service_status: the unit's status and recent journal as TAP comments.
service_status() {
	systemctl --no-pager -l status "$unit" 2>&1 | sed 's/^/#   /' || true
}

# name_owner: the unique name owning org.ccdevd1 on the system bus.
name_owner() {
	busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
		GetNameOwner s org.ccdevd1 2>/dev/null | sed -n 's/^s "\(.*\)"$/\1/p'
}

# service_start: systemctl start ccdevd.service, then wait (10 s at most)
# until it is active and owns org.ccdevd1; sets $daemon_pid.
service_start() {
	daemon_pid=
	if ! systemctl start "$unit"; then
		echo "# systemctl start $unit failed:"
		service_status
		return 1
	fi
	if ! wait_for 10 service_up; then
		echo "# $unit is not active with org.ccdevd1 on the bus:"
		service_status
		return 1
	fi
	daemon_pid=$(service_pid)
}
service_up() { [ "$(service_prop ActiveState)" = active ] && [ -n "$(name_owner)" ]; }

# service_stop: systemctl stop ccdevd.service.
service_stop() {
	daemon_pid=
	systemctl stop "$unit"
}

# in_service_cgroup COMMAND...: COMMAND in ccdevd.service's cgroup (its
# device policy applies), otherwise as the caller.
in_service_cgroup() {
	local cg
	cg=/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$(service_pid)/cgroup")
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# in_service_mounts COMMAND...: COMMAND in the daemon's mount namespace (its
# ProtectSystem= view of the file system), otherwise as the caller.
in_service_mounts() { nsenter -t "$(service_pid)" -m "$@"; }

# journal_lines [JOURNALCTL-ARGS...]: this boot's journal of ccdevd.service,
# one line per entry; the daemon's own entries as it prints them outside the
# journal ("DEVICE: message"), systemd's about the unit as they are.
journal_lines() {
	journalctl --sync 2>/dev/null || true
	journalctl -b -u "$unit" -o json --no-pager "$@" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    m = e.get("MESSAGE", "")
    if isinstance(m, list):
        m = bytes(m).decode("utf-8", "replace")
    d = e.get("CCDEVD_DEVICE", "")
    print((d + ": " if d else "") + m)'
}

# journal_grep REGEX [JOURNALCTL-ARGS...]: lines of journal_lines matching the
# extended REGEX (status 1 when none).
journal_grep() {
	local re=$1
	shift
	journal_lines "$@" | grep -E -- "$re"
}

# journal_errno ERRNO: the daemon's entries logged with ERRNO= that number
# (e.g. 1 for EPERM), as "ERRNO: message" lines (status 1 when none).
journal_errno() {
	journalctl --sync 2>/dev/null || true
	journalctl -b -u "$unit" -o json --no-pager "ERRNO=$1" | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    e = json.loads(line)
    print(e.get("ERRNO"), e.get("CCDEVD_DEVICE", ""), e.get("MESSAGE"))
    n += 1
sys.exit(0 if n else 1)'
}

# The log helpers of lib-lease.sh read $tmp/ccdevd.log: the journal, here.
log_mark() { journal_lines | wc -l; }
log_after() { journal_lines | tail -n +$(($1 + 1)); }

# crash_daemon [SIGNAL]: systemctl kill it (SIGKILL by default) and wait for
# systemd's restart: a new main PID that owns org.ccdevd1 again.
crash_daemon() {
	local old=$daemon_pid sig=${1:-KILL}
	systemctl reset-failed "$unit" 2>/dev/null || true
	systemctl kill -s "$sig" "$unit" || return 1
	restarted_from "$old"
}
# restarted_from PID: within 30 s ccdevd.service runs again under another PID.
restarted_from() {
	local old=$1
	if ! wait_for 30 eval '[ "$(service_pid)" != "$old" ] && [ "$(service_pid)" != 0 ] && service_up'; then
		echo "# ccdevd.service did not come back:"
		service_status
		return 1
	fi
	daemon_pid=$(service_pid)
	echo "# main pid $old -> $daemon_pid"
}
