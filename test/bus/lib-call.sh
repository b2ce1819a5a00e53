# Shared by the bus-tier tests that call ccdevd: calls with dbus-send (which
# prints the D-Bus error *name*, not only the message), assertions on the
# exact error, the host's PCI functions to manage, and a signal monitor.
# Source it after lib.sh.

dev_prefix=/org/ccdevd1/device

# The door the calls below go through: the system bus, or with
# CCDEVD_DOOR=direct ccdevd's direct socket (peer to peer; ccdevd answers
# Hello there, so dbus-send and the raw clients need no change but the
# address; ccdevctl and test/vm's clients take $CCDEVD_SOCKET).  The signal
# monitors stay on the bus.
client_env=()
direct_socket=$tmp/run/ccdevd.sock
if [ "${CCDEVD_DOOR:-bus}" = direct ]; then
	client_env=(env "DBUS_SYSTEM_BUS_ADDRESS=unix:path=$direct_socket")
	export CCDEVD_SOCKET=$direct_socket
	echo "# door: the direct socket $direct_socket"
fi

# dsend [--as UID:GID[:GID,...]] PATH IFACE.MEMBER [ARGS...]: a method call to
# org.ccdevd1, as root or with exactly the given uid, gid and supplementary
# groups (none when the third field is absent).
dsend() {
	local prefix=() u g groups
	if [ "${1:-}" = --as ]; then
		IFS=: read -r u g groups <<<"$2"
		shift 2
		prefix=(setpriv --reuid "$u" --regid "$g")
		if [ -n "$groups" ]; then prefix+=(--groups "$groups"); else prefix+=(--clear-groups); fi
	fi
	"${prefix[@]}" "${client_env[@]}" dbus-send --system --print-reply --dest=org.ccdevd1 "$@"
}

# error_is WHAT NAME REGEX RC OUT PREFIX: a client's call (WHAT, for the
# report) exited RC with output OUT whose first line is PREFIX NAME ": "
# message; succeed when RC != 0, the error is NAME and the message matches
# REGEX, else show what came instead.  Shared by dbus-send and gdbus callers.
error_is() {
	local what=$1 want=$2 re=$3 rc=$4 out=$5 prefix=$6 got msg
	got=$(sed -n "1s/^$prefix\([^ :]*\): .*/\1/p" <<<"$out")
	msg=$(sed "1s/^$prefix[^ :]*: //" <<<"$out")
	if [ "$rc" != 0 ] && [ "$got" = "$want" ] && grep -qE -- "$re" <<<"$msg"; then
		return 0
	fi
	echo "# $what"
	echo "#   expected: exit != 0, error $want, message matching /$re/"
	echo "#   got: exit $rc, error '${got:-none}', output:"
	sed 's/^/#     /' <<<"$out"
	return 1
}

# fails_with NAME REGEX DSEND-ARGS...: the call fails with the D-Bus error
# NAME, and its message matches the extended regular expression REGEX.
fails_with() {
	local want=$1 re=$2 out rc=0
	shift 2
	out=$(dsend "$@" 2>&1) || rc=$?
	error_is "dbus-send $*" "$want" "$re" "$rc" "$out" 'Error '
}

# succeeds DSEND-ARGS...: the call returns; its reply is in $tmp/reply.
succeeds() {
	local rc=0
	dsend "$@" >"$tmp/reply" 2>&1 || rc=$?
	[ "$rc" = 0 ] && return 0
	echo "# dbus-send $* exited $rc:"
	sed 's/^/#   /' "$tmp/reply"
	return 1
}

# bctl_json ARGS...: busctl --system --json=short ARGS; fails loudly.
bctl_json() {
	local out rc=0
	out=$(busctl --system --json=short "$@" 2>&1) || rc=$?
	if [ "$rc" != 0 ]; then
		echo "# busctl $* exited $rc: $out" >&2
		return 1
	fi
	printf '%s\n' "$out"
}

# manager_prop NAME: the value of a Manager property, as JSON.
manager_prop() {
	bctl_json get-property org.ccdevd1 /org/ccdevd1 org.ccdevd1.Manager "$1" |
		python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["data"]))'
}

# is EXPECTED COMMAND...: COMMAND prints exactly EXPECTED (else show both).
is() {
	local want=$1 got
	shift
	got=$("$@" 2>&1) || true
	[ "$got" = "$want" ] && return 0
	echo "# $*"
	echo "#   expected: $want"
	echo "#   got:      $got"
	return 1
}

# dev_path ADDRESS: the object path of a device, /org/ccdevd1/device/DDDD_BB_DD_F.
dev_path() { local a=${1//:/_}; echo "$dev_prefix/${a//./_}"; }

# pick_devices: sets
#   managed_dev    a PCI function here to manage (class 02, network, when there
#                  is one, else the first that is not a PCI bridge);
#   managed_class  its class as 2 hex digits, for a {"class": ...} rule;
#   unmanaged_dev  a function here of another class ("" if none);
#   absent_dev     an address with no PCI function behind it.
# All "" but absent_dev when the host has no PCI at all.
pick_devices() {
	local d c first= first_class=
	managed_dev= managed_class= unmanaged_dev= absent_dev=
	for d in /sys/bus/pci/devices/*; do
		[ -r "$d/class" ] || continue
		c=$(cat "$d/class")
		case $c in 0x0604*) continue ;; esac
		if [ -z "$managed_dev" ] && [ "${c:2:2}" = 02 ]; then
			managed_dev=${d##*/} managed_class=02
		fi
		[ -n "$first" ] || first=${d##*/} first_class=${c:2:2}
	done
	if [ -z "$managed_dev" ] && [ -n "$first" ]; then
		managed_dev=$first managed_class=$first_class
	fi
	for d in /sys/bus/pci/devices/*; do
		[ -r "$d/class" ] || continue
		c=$(cat "$d/class")
		case $c in 0x0604*) continue ;; esac
		if [ "${c:2:2}" != "$managed_class" ]; then
			unmanaged_dev=${d##*/}
			break
		fi
	done
	for d in 0000:00:1f.7 00ff:fe:1f.6 fffe:ff:1e.5; do
		[ -e "/sys/bus/pci/devices/$d" ] || { absent_dev=$d; break; }
	done
}

# Signals: a monitor on everything org.ccdevd1 emits, plus our own markers.
monitor_pid= marker_n=0

start_monitor() {
	dbus-monitor --system "type='signal',sender='org.ccdevd1'" \
		"type='signal',interface='test.ccdevd1.Marker'" >"$tmp/monitor" 2>&1 &
	monitor_pid=$!
	# Markers sent before the monitor is in place are lost: repeat.
	for _ in $(seq 100); do
		dbus-send --system --type=signal /test test.ccdevd1.Marker.Sync string:start
		grep -q '^   string "start"$' "$tmp/monitor" && return 0
		sleep 0.05
	done
	echo "# dbus-monitor did not start:"
	sed 's/^/#   /' "$tmp/monitor"
	return 1
}

stop_monitor() {
	[ -z "$monitor_pid" ] || kill "$monitor_pid" 2>/dev/null || true
	wait "$monitor_pid" 2>/dev/null || true
	monitor_pid=
}

# sync_monitor: returns once the monitor has seen every signal the daemon sent
# before now.  The bus keeps a sender's messages in order, and a marker we
# send after the daemon's reply to us is routed after everything the daemon
# sent before that reply.
sync_monitor() {
	marker_n=$((marker_n + 1))
	dbus-send --system --type=signal /test test.ccdevd1.Marker.Sync string:"m$marker_n"
	for _ in $(seq 200); do
		grep -q "^   string \"m$marker_n\"\$" "$tmp/monitor" && return 0
		sleep 0.025
	done
	echo "# marker m$marker_n never reached the monitor"
	return 1
}

# signals MEMBER: one line per signal MEMBER seen so far, its arguments joined
# with " | ", e.g.  DeviceRemoved | string "0000:00:03.0" | object path "/org/…"
signals() {
	awk -v m="$1" '
		/^[a-z]/ { if (cur != "") print cur; cur = ""
			   if ($0 ~ ("; member=" m "$") && $0 !~ /test\.ccdevd1\.Marker/) cur = m; next }
		cur != "" { sub(/^ +/, ""); cur = cur " | " $0 }
		END { if (cur != "") print cur }' "$tmp/monitor"
}

# signal_count MEMBER: how many MEMBER signals the monitor has seen.
signal_count() { signals "$1" | wc -l; }

# re_quote STRING: STRING as an extended regular expression matching itself.
re_quote() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }

# gfails_with NAME REGEX [--as UID:GID[:GID,...]] PATH IFACE.MEMBER ARGS...: a
# gdbus call (which, unlike dbus-send, can pass an a{sv}; ARGS in GVariant
# text) fails with the D-Bus error NAME and a message matching REGEX.
gfails_with() {
	local want=$1 re=$2 prefix=() u g groups out rc=0
	shift 2
	if [ "${1:-}" = --as ]; then
		IFS=: read -r u g groups <<<"$2"
		shift 2
		prefix=(setpriv --reuid "$u" --regid "$g")
		if [ -n "$groups" ]; then prefix+=(--groups "$groups"); else prefix+=(--clear-groups); fi
	fi
	local path=$1 method=$2
	shift 2
	out=$("${prefix[@]}" "${client_env[@]}" gdbus call --system --dest org.ccdevd1 --object-path "$path" --method "$method" "$@" 2>&1) || rc=$?
	error_is "gdbus call $path $method $*" "$want" "$re" "$rc" "$out" 'Error: GDBus\.Error:'
}

# Leases.  dbus-send and busctl exit after one call, and a lease ends with
# its owner, so hold-lease.py creates one and keeps it.
lease= holder_pid= lease_error=

# hold_lease [UID:GID[:GID,...]]: a lease owned by a helper process (root by
# default); sets lease to its path.  When CreateLease fails, returns 1 with
# the reason in lease_error (the bus tier may have no /dev/iommu).
hold_lease() {
	local u=0 g=0 groups= line=
	[ -z "${1:-}" ] || IFS=: read -r u g groups <<<"$1"
	lease= lease_error=
	"${client_env[@]}" python3 "$src/test/bus/hold-lease.py" "$u" "$g" "${groups:--}" >"$tmp/holder" 2>&1 &
	holder_pid=$!
	for _ in $(seq 200); do
		line=$(head -n1 "$tmp/holder")
		[ -z "$line" ] || break
		kill -0 "$holder_pid" 2>/dev/null || { line=$(head -n1 "$tmp/holder"); break; }
		sleep 0.025
	done
	if [ "${line#lease }" != "$line" ]; then
		lease=${line#lease }
		return 0
	fi
	lease_error=${line:-hold-lease.py printed nothing}
	drop_lease
	return 1
}

# drop_lease: end the helper, and with it the lease.
drop_lease() {
	[ -z "$holder_pid" ] || kill "$holder_pid" 2>/dev/null || true
	[ -z "$holder_pid" ] || wait "$holder_pid" 2>/dev/null || true
	holder_pid= lease=
}

# skip WHAT WHY: a test point that cannot run here, reported as TAP SKIP.
skip() { ok "$1 # SKIP $2"; }
