# Shared by the bus-tier tests: a private system bus with the project's own
# policy, the daemon on it, and TAP output.  Source it; it cleans up on exit.
set -euo pipefail

build=${CCDEVD_BUILD:?CCDEVD_BUILD must point at the build directory}
src=${CCDEVD_SOURCE:?CCDEVD_SOURCE must point at the source directory}
tmp=$(mktemp -d /tmp/ccdevd-bus.XXXXXX)
chmod 0755 "$tmp"
bus_pid= daemon_pid=
tap_n=0 tap_failed=0

cleanup_bus() {
	[ -z "$daemon_pid" ] || kill -9 "$daemon_pid" 2>/dev/null || true
	[ -z "$bus_pid" ] || kill "$bus_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup_bus EXIT

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
# check DESCRIPTION COMMAND...: a test point that passes when COMMAND does.
check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
tap_done() { echo "1..$tap_n"; [ "$tap_failed" = 0 ]; }

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# A system-bus-like configuration: method calls denied unless a policy
# allows them, then the project's own policy file.
start_bus() {
	cat > "$tmp/bus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "https://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$tmp/system_bus_socket</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_destination="org.freedesktop.DBus"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
  <include>$src/policy/org.ccdevd1.conf</include>
</busconfig>
XML
	# Its own notices go to a file: on a console they would break TAP.
	dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile --nosyslog 2>"$tmp/dbus-daemon.log" &
	bus_pid=$!
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/system_bus_socket
	for _ in $(seq 100); do
		[ -S "$tmp/system_bus_socket" ] && return 0
		sleep 0.05
	done
	echo "# dbus-daemon did not start" >&2
	return 1
}

# start_daemon [ARGS...]: run ccdevd on the private bus, wait for its name.
# Its restart state goes to $tmp/run (systemd would give it
# $RUNTIME_DIRECTORY), kept from one start to the next, as under systemd.
start_daemon() {
	mkdir -p "$tmp/run"
	RUNTIME_DIRECTORY=$tmp/run "$build/src/ccdevd/ccdevd" "$@" 2>"$tmp/ccdevd.log" &
	daemon_pid=$!
	for _ in $(seq 200); do
		busctl --system call org.ccdevd1 /org/ccdevd1 org.freedesktop.DBus.Peer Ping >/dev/null 2>&1 && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "# ccdevd did not claim org.ccdevd1; its log:" >&2
	sed 's/^/#   /' "$tmp/ccdevd.log" >&2
	return 1
}

# stop_daemon: SIGTERM, and the exit status of ccdevd.
stop_daemon() {
	local rc=0
	kill -TERM "$daemon_pid"
	wait "$daemon_pid" || rc=$?
	daemon_pid=
	return $rc
}
