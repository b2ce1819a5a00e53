# Shared by the VM-tier dma-buf tests (test-lease-dmabuf, test-restart-dmabuf):
# test/vm/dmabuf-client processes, each a VMM stand-in fed commands through a
# fifo, and reading their results and signals.  Source it after lib-lease.sh
# (or lib-systemd.sh).

dclient=${CCDEVD_DMABUF_CLIENT:-$CCDEVD_BUILD/test/vm/dmabuf-client}

declare -A dc_fd dc_pid
dc_out=

# dc_start NAME UID: a dmabuf-client as UID reading $tmp/NAME.in (we hold
# its write end) and writing $tmp/NAME.out; ready within 10 s.
dc_start() {
	local name=$1 u=$2 fd
	mkfifo "$tmp/$name.in"
	setpriv --reuid "$u" --regid "$u" --clear-groups "$dclient" <"$tmp/$name.in" >"$tmp/$name.out" 2>&1 &
	dc_pid[$name]=$!
	client_pids+=("$!")
	exec {fd}>"$tmp/$name.in"
	dc_fd[$name]=$fd
	wait_for 10 grep -q '^# dmabuf-client pid .* ready$' "$tmp/$name.out" && return 0
	echo "# dmabuf-client $name did not start:"
	show "$tmp/$name.out"
	return 1
}

# dc_kill NAME: SIGKILL the client NAME, reap it, close our end of its fifo.
dc_kill() {
	local name=$1
	kill -9 "${dc_pid[$name]}" 2>/dev/null || true
	wait "${dc_pid[$name]}" 2>/dev/null || true
	exec {dc_fd[$name]}>&-
}

# dc_quit NAME: the client NAME quits (closing its fds) and exits 0.
dc_quit() {
	local name=$1 rc=0
	dc "$name" quit || true
	exec {dc_fd[$name]}>&-
	wait "${dc_pid[$name]}" || rc=$?
	[ "$rc" = 0 ] || { echo "# dmabuf-client $name exited $rc"; show "$tmp/$name.out"; }
	return $rc
}

results() { grep -E '^(ok|error) ' "$tmp/$1.out" || true; }

# dc NAME COMMAND...: send COMMAND to the client NAME, wait (30 s at most)
# for its result line, in $dc_out; succeed when it is "ok ...".
dc() {
	local name=$1 n line=
	shift
	n=$(results "$name" | wc -l)
	printf '%s\n' "$*" >&"${dc_fd[$name]}"
	for _ in $(seq 600); do
		line=$(results "$name" | sed -n "$((n + 1))p")
		[ -n "$line" ] && break
		kill -0 "${dc_pid[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	dc_out=${line:-"(no answer)"}
	case "$line" in ok\ *) return 0 ;; esac
	echo "# $name: $*"
	echo "#   -> $dc_out"
	return 1
}

# dc_get NAME COMMAND...: the result line of COMMAND, printed.
dc_get() { dc "$@" >/dev/null || true; echo "$dc_out"; }

# dc_fails NAME ERROR COMMAND...: COMMAND fails with org.ccdevd1.Error.ERROR.
dc_fails() {
	local name=$1 want=$2
	shift 2
	dc "$name" "$@" >/dev/null && { echo "# $name: $* succeeded ($dc_out); want $E.$want"; return 1; }
	echo "#   $*: $dc_out"
	case "$dc_out" in "error $E.$want: "*) return 0 ;; esac
	echo "#   expected error $E.$want"
	return 1
}

# field KEY: the value of KEY= in $dc_out.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$dc_out"; }

out_mark() { wc -l <"$tmp/$1.out"; }
# signals_since NAME MARK: the signal lines client NAME printed after MARK.
signals_since() { tail -n +$(($2 + 1)) "$tmp/$1.out" | grep '^signal ' || true; }
# signal_seq NAME MARK [LEASE]: "MEMBER@LEASE ..." in order.
signal_seq() {
	signals_since "$1" "$2" | awk -v want="${3:-}" '{ l = $3; sub(/^lease=/, "", l); if (want == "" || l == want) printf "%s%s@%s", (n++ ? " " : ""), $2, l } END { print "" }'
}
# wait_signal SECONDS NAME MARK REGEX: a signal line after MARK matches.
wait_signal() {
	local limit=$1 name=$2 mark=$3 re=$4
	wait_for "$limit" bash -c "tail -n +$((mark + 1)) '$tmp/$name.out' | grep -qE -- '$re'" && return 0
	echo "# no signal matching /$re/ for $name within $limit s; it printed since:"
	tail -n +$((mark + 1)) "$tmp/$name.out" | sed 's/^/#   /'
	return 1
}

