# Shared by the VM-tier lease tests (test-lease, test-lease-crash,
# test-lease-groups): test/vm/lib.sh and the bus tier's call helpers, plus
# running test/vm/lease-client as an unprivileged user and waiting for the
# daemon to settle.  Source it; it cleans up after itself on exit.
. "$CCDEVD_SOURCE/test/vm/lib.sh"
. "$CCDEVD_SOURCE/test/bus/lib-call.sh"

client=${CCDEVD_LEASE_CLIENT:-$CCDEVD_BUILD/test/vm/lease-client}
E=org.ccdevd1.Error
L=org.ccdevd1.Lease
client_pids=()

cleanup_lease() {
	local p
	for p in "${client_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	stop_monitor
	cleanup_bus
}
trap cleanup_lease EXIT

# (lib-systemd.sh sets lease_no_modprobe: there the service loads them.)
[ -n "${lease_no_modprobe:-}" ] || modprobe -a vfio-pci iommufd

# Users 1000-1002 act as VMMs.  dbus-daemon refuses a connection from a uid
# that has no passwd entry, so give them one: /etc is the guest's tmpfs
# overlay, the host's files are not touched.
if [ "$(hostname)" != ccdevd-vm ]; then
	echo "Bail out! lease tests run only in the VM guest (test/vm/run)"
	exit 1
fi
for u in 1000 1001 1002; do
	getent group "$u" >/dev/null || echo "ccdevd-test$u:x:$u:" >>/etc/group
	getent passwd "$u" >/dev/null || echo "ccdevd-test$u:x:$u:$u::/nonexistent:/usr/sbin/nologin" >>/etc/passwd
done

# as UID COMMAND...: COMMAND with uid and gid UID and no supplementary groups.
as() {
	local u=$1
	shift
	setpriv --reuid "$u" --regid "$u" --clear-groups "$@"
}

# show FILE: a file's lines as TAP comments.
show() { sed 's/^/#   /' "$1"; }

# client_run NAME UID ARGS...: lease-client ARGS as UID, to its end.  Output
# in $tmp/NAME.out, exit status in $client_rc.
client_run() {
	local name=$1 u=$2
	shift 2
	client_rc=0
	as "$u" "$client" "$@" >"$tmp/$name.out" 2>&1 || client_rc=$?
}

# client_passes NAME: the run NAME exited 0 (else its output is shown).
client_passes() {
	[ "$client_rc" = 0 ] && return 0
	echo "# lease-client ($1) exited $client_rc:"
	show "$tmp/$1.out"
	return 1
}

# client_start NAME UID MARKER ARGS...: lease-client ARGS as UID in the
# background ($client_pid) until it prints "# MARKER" (30 s at most).
client_start() {
	local name=$1 u=$2 marker=$3
	shift 3
	# setpriv itself, not the function "as": $! must be the client's pid.
	setpriv --reuid "$u" --regid "$u" --clear-groups "$client" "$@" >"$tmp/$name.out" 2>&1 &
	client_pid=$!
	client_pids+=("$client_pid")
	# (stderr: bash's "Killed" notice of a client that crashes on purpose
	# would land in the TAP stream)
	for _ in $(seq 300); do
		grep -q "^# $marker" "$tmp/$name.out" && return 0
		kill -0 "$client_pid" 2>/dev/null || break
		sleep 0.1
	done 2>/dev/null
	echo "# lease-client ($name) did not get to '$marker':"
	show "$tmp/$name.out"
	return 1
}

# client_kill PID: SIGKILL and reap.
client_kill() {
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# lease_of NAME: the lease path a client run printed.
lease_of() { sed -n 's/^# lease //p' "$tmp/$1.out" | head -n1; }
ioas_of() { sed -n 's/^# iommufd [0-9]*, ioas_id //p' "$tmp/$1.out" | head -n1; }

# error_of NAME: the "NAME: message" of the D-Bus error a client expected.
error_of() { sed -n 's/^# error //p' "$tmp/$1.out" | head -n1; }

# wait_is SECONDS EXPECTED COMMAND...: COMMAND prints exactly EXPECTED within
# SECONDS (else both are shown).
wait_is() {
	local limit=$1 want=$2 got end
	shift 2
	end=$((SECONDS + limit))
	while :; do
		got=$("$@" 2>&1) || true
		[ "$got" = "$want" ] && return 0
		[ $SECONDS -lt $end ] || break
		sleep 0.2
	done
	echo "# $* (waited ${limit}s)"
	echo "#   expected: $want"
	echo "#   got:      $got"
	return 1
}

# wait_match SECONDS REGEX COMMAND...: COMMAND's output matches the extended
# regular expression REGEX within SECONDS (else it is shown).
wait_match() {
	local limit=$1 re=$2 got end
	shift 2
	end=$((SECONDS + limit))
	while :; do
		got=$("$@" 2>&1) || true
		grep -qE -- "$re" <<<"$got" && return 0
		[ $SECONDS -lt $end ] || break
		sleep 0.2
	done
	echo "# $* (waited ${limit}s)"
	echo "#   expected to match: /$re/"
	echo "#   got:               $got"
	return 1
}

# dev_props DEVICE PROPERTY...: several Device properties on one line.
dev_props() {
	local dev=$1
	shift
	echo $(busctl --system get-property org.ccdevd1 "$(dev_path "$dev")" org.ccdevd1.Device "$@")
}

lease_count() { prop /org/ccdevd1 org.ccdevd1.Manager LeaseCount; }
list_leases() { busctl --system call org.ccdevd1 /org/ccdevd1 org.ccdevd1.Manager ListLeases; }
# lease_objects: the number of lease objects on the bus.
lease_objects() { busctl --system --list tree org.ccdevd1 | grep -c "^/org/ccdevd1/lease/" || true; }
sysfs_driver() {
	local l
	l=$(readlink "/sys/bus/pci/devices/$1/driver") || { echo ""; return 0; }
	basename "$l"
}
daemon_fds() { fd_count "$daemon_pid"; }

# released_reason PATH: the reason of the LeaseReleased signal for PATH.
released_reason() {
	signals LeaseReleased | grep -F "object path \"$1\"" | sed -n 's/.*| string "\(.*\)"$/\1/p' | head -n1
}

# wait_released PATH REASON_REGEX: a LeaseReleased for PATH with a reason
# matching the extended regular expression arrives within 15 s.
wait_released() {
	local path=$1 re=$2 got=
	for _ in $(seq 75); do
		sync_monitor >/dev/null || true
		got=$(released_reason "$path")
		[ -n "$got" ] && break
		sleep 0.2
	done
	grep -qE "^($re)\$" <<<"$got" && return 0
	echo "# LeaseReleased for $path: expected a reason matching /^($re)\$/, got '${got:-no signal}'"
	signals LeaseReleased | sed 's/^/#   /'
	return 1
}

# state_changes PATH [LINE]: the values a device's State took in
# PropertiesChanged signals so far (after line LINE of the monitor's output),
# in order, space-separated.
state_changes() {
	sync_monitor >/dev/null || true
	tail -n +$((${2:-0} + 1)) "$tmp/monitor" | awk -v p="path=$1;" '
		/^[a-z]/ { inblock = (index($0, p) > 0 && $0 ~ /member=PropertiesChanged/); want = 0; next }
		inblock && /^ *string "State"$/ { want = 1; next }
		inblock && want && /variant/ { sub(/.*string "/, ""); sub(/"$/, ""); printf "%s ", $0; want = 0 }
	' | sed 's/ $//'
}

# monitor_mark: the monitor's current line count, for state_changes.
monitor_mark() {
	sync_monitor >/dev/null || true
	wc -l <"$tmp/monitor"
}

# never_quarantined MARK BDF...: no device went through "quarantined" in the
# State changes since MARK.
never_quarantined() {
	local mark=$1 d rc=0 changes
	shift
	for d in "$@"; do
		changes=$(state_changes "$(dev_path "$d")" "$mark")
		if grep -qw quarantined <<<"$changes"; then
			echo "# $d: State went $changes"
			rc=1
		fi
	done
	[ $rc = 0 ] || grep -h "quarantin\|Quarantin" "$tmp/ccdevd.log" | sed 's/^/#   daemon: /'
	return $rc
}

# gfails_with NAME REGEX UID PATH IFACE.METHOD ARGS...: a gdbus call (which,
# unlike dbus-send, can pass an a{sv}) as UID fails with the D-Bus error
# NAME and a message matching REGEX.
gfails_with() {
	local want=$1 re=$2 u=$3 path=$4 method=$5 out rc=0
	shift 5
	out=$(as "$u" gdbus call --system --dest org.ccdevd1 --object-path "$path" --method "$method" "$@" 2>&1) || rc=$?
	error_is "gdbus call (uid $u) $path $method $*" "$want" "$re" "$rc" "$out" 'Error: GDBus\.Error:'
}

# settled DEVICE STATE: the daemon is back at rest after a lease on DEVICE:
# no lease counted, listed or on the bus, the device in STATE with no lease,
# and the daemon's fds back to $baseline_fds (15 s at most).
settled() {
	local dev=$1 state=$2 rc=0
	# A daemon that died says why only in its log: show its end (the
	# checks below fail on their own).
	if [ -s "$tmp/ccdevd.log" ] && ! kill -0 "$daemon_pid" 2>/dev/null; then
		echo "# ccdevd (pid $daemon_pid) is not running; the end of its log:"
		tail -n 30 "$tmp/ccdevd.log" | sed 's/^/#   /'
	fi
	wait_is 15 "u 0" lease_count || rc=1
	wait_is 5 "a(ouusu) 0" list_leases || rc=1
	wait_is 5 0 lease_objects || rc=1
	wait_is 15 "s \"$state\"" dev_prop "$dev" State || rc=1
	wait_is 5 'o "/"' dev_prop "$dev" Lease || rc=1
	wait_is 5 "$baseline_fds" daemon_fds || { ls -l "/proc/$daemon_pid/fd" | sed 's/^/#   /'; rc=1; }
	return $rc
}

# ---- the daemon's log (its stderr, in $tmp/ccdevd.log) ----
# log_mark: the log's current line count; log_after LINE: the log after it.
log_mark() { wc -l <"$tmp/ccdevd.log"; }
log_after() { tail -n +$(($1 + 1)) "$tmp/ccdevd.log"; }
# log_has LINE REGEX: a line after LINE matches the extended REGEX (no grep
# -q: with pipefail an early exit would fail tail).
log_has() { log_after "$1" | grep -E -- "$2" >/dev/null; }
# show_log LINE: the log after LINE as TAP comments.
show_log() { log_after "$1" | sed 's/^/#   daemon: /'; }

# teardown_steps DEVICE LINE: the teardown steps the daemon logged for
# DEVICE after LINE ("BDF: Teardown STEP: ..."), repeats of a step merged
# (the release step logs when it starts, whom it waits for, and its proof),
# space-separated: e.g. "started detach release reset driver finished".
teardown_steps() {
	log_after "$2" | sed -n "s/^$1: Teardown \([a-z]*\): .*/\1/p" | uniq | tr '\n' ' ' | sed 's/ $//'
}

# teardown_is DEVICE LINE EXPECTED: teardown_steps is EXPECTED, the release
# was proven by the unbind, and no step failed; else the log is shown.
teardown_is() {
	local got
	got=$(teardown_steps "$1" "$2")
	if [ "$got" = "$3" ] && log_has "$2" "^$1: Teardown release: no file open" &&
		! log_has "$2" "^$1: Teardown .* failed"; then
		return 0
	fi
	echo "# teardown steps logged for $1: '$got', expected '$3' (with 'Teardown release: no file open'); the log:"
	show_log "$2"
	return 1
}

# wait_teardown_finished SECONDS DEVICE LINE: "DEVICE: Teardown finished"
# appears after LINE within SECONDS.
wait_teardown_finished() {
	wait_for "$1" log_has "$3" "^$2: Teardown finished" && return 0
	echo "# no '$2: Teardown finished' within $1 s; the log:"
	show_log "$3"
	return 1
}

# gone PID: no process PID (a zombie counts as gone: it holds no files).
gone() {
	[ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# wait_out SECONDS NAME REGEX: the output of the client run NAME has a line
# matching REGEX within SECONDS.
wait_out() {
	wait_for "$1" grep -qE -- "$3" "$tmp/$2.out" && return 0
	echo "# $2's output has no line matching /$3/ after $1 s:"
	show "$tmp/$2.out"
	return 1
}

# since_assigned CHANGES: the part of a state_changes sequence after its
# first "assigned" (a claim announces host -> vfio-idle before the attach:
# that vfio-idle is not a release).
since_assigned() {
	case " $1 " in
	*" assigned "*) local rest=" $1 "; rest=${rest#* assigned }; echo "${rest% }" ;;
	*) echo "$1" ;;
	esac
}
