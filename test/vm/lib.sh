# Shared by the VM-tier shell tests (they run as root inside the guest, see
# test/vm/run): the bus-tier helpers plus device lookup and waiting.
. "$CCDEVD_SOURCE/test/bus/lib.sh"

# find_device VENDOR DEVICE [N]: the Nth (default first) PCI address with
# that vendor:device id.
find_device() {
	local want="0x$1 0x$2" n=${3:-1} i=0 d
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor") $(cat "$d/device")" = "$want" ]; then
			i=$((i + 1))
			[ $i = "$n" ] && { basename "$d"; return 0; }
		fi
	done
	return 1
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# prop PATH INTERFACE PROPERTY: a property's value as busctl prints it.
prop() {
	busctl --system get-property org.ccdevd1 "$1" "$2" "$3"
}
dev_prop() {
	prop "$(dev_path "$1")" org.ccdevd1.Device "$2"
}
dev_path() {
	echo "/org/ccdevd1/device/$(echo "$1" | tr ':.' '__')"
}

# Bind a device to a driver by hand, as an administrator would.
bind_to() {
	local bdf=$1 driver=$2 sys=/sys/bus/pci/devices/$1
	echo "$driver" > "$sys/driver_override"
	[ ! -e "$sys/driver" ] || echo "$bdf" > "$sys/driver/unbind"
	echo "$bdf" > /sys/bus/pci/drivers_probe
	echo > "$sys/driver_override"
}

fd_count() {
	ls "/proc/$1/fd" | wc -l
}

# ---- counting PCI resets with the kernel's function profiler ----
# Each real reset of a PCI function or of a bus below a bridge ends in
# exactly one of these (drivers/pci/pci.c, drivers/pci/quirks.c):
#   pcie_flr                        FLR: the "flr" method (pcie_reset_flr)
#                                   calls it; pcie_reset_flr itself is not
#                                   counted (it is also the probe)
#   pci_af_flr, pci_pm_reset        the "af_flr" and "pm" methods
#   pci_dev_specific_reset          "device_specific" (a quirk; a quirk that
#   pci_dev_acpi_reset              calls pcie_flr counts twice: none of the
#   cxl_reset_bus_function          guest's devices has one), "acpi", "cxl_bus"
#   pci_bridge_secondary_bus_reset  every secondary bus reset: the "bus"
#                                   method (pci_reset_bus_function ->
#                                   pci_parent_bus_reset or, with a hotplug
#                                   slot, pciehp_reset_slot), pci_reset_bus
#                                   (VFIO hot reset, vfio-pci's reset of the
#                                   dev_set on last close), the bridge's
#                                   reset_subordinate (pci_try_reset_bridge)
# pci_reset_bus_function, pci_reset_bus, pci_slot_reset, pci_bus_reset and
# pci_try_reset_bridge are not counted: each ends in the secondary bus reset
# (and pci_bus_reset / pci_slot_reset are also called as probes).  The
# method functions other than pcie_flr and the bus reset are called as
# probes too, but only when the kernel (re)builds a device's reset_methods:
# at enumeration and on a write to sysfs reset_method; a counting window
# must not contain either.  A reset attempt that fails (e.g. the link does
# not come back after a bus reset) still counts: it is a reset the kernel
# tried.
reset_functions="pcie_flr pci_af_flr pci_pm_reset pci_dev_specific_reset pci_dev_acpi_reset cxl_reset_bus_function pci_bridge_secondary_bus_reset"
tracing=/sys/kernel/tracing
reset_syms=

# reset_count_start: zero the counts and start counting.
reset_count_start() {
	local sym syms n=0
	if [ ! -e "$tracing/function_profile_enabled" ]; then
		mount -t tracefs tracefs "$tracing" 2>/dev/null || true
	fi
	if [ ! -w "$tracing/function_profile_enabled" ]; then
		echo "# reset_count_start: no function profiler at $tracing (CONFIG_FUNCTION_PROFILER)"
		return 1
	fi
	echo 0 >"$tracing/function_profile_enabled"
	if [ -z "$reset_syms" ]; then
		# The symbols as ftrace knows them, also compiler clones
		# (f.isra.0 ...), in one pass over the (long) list; once: the
		# filter stays.
		: >"$tracing/set_ftrace_filter"
		syms=$(awk -v want="$reset_functions" '
			BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
			{ name = $1; sub(/\..*/, "", name) }
			name in ok && !seen[$1]++ { print $1 }' "$tracing/available_filter_functions")
		for sym in $syms; do
			echo "$sym" >>"$tracing/set_ftrace_filter" && n=$((n + 1))
		done
		if [ "$n" = 0 ]; then
			# An empty filter would profile every function.
			echo "# reset_count_start: none of $reset_functions is traceable"
			return 1
		fi
		reset_syms=$syms
	fi
	# Enabling the profiler zeroes its counters (ftrace_profile_init_cpu).
	echo 1 >"$tracing/function_profile_enabled"
}

# reset_count [LABEL]: sets $resets to the number of resets since
# reset_count_start (summed over every CPU's trace_stat/function*), and
# $resets_detail to the hits per function; prints both as a TAP comment.
reset_count() {
	local out
	out=$(cat "$tracing"/trace_stat/function[0-9]* 2>/dev/null | awk -v want="$reset_functions" '
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
		{ name = $1; sub(/\..*/, "", name) }
		(name in ok) && $2 ~ /^[0-9]+$/ { hits[name] += $2; total += $2 }
		END { d = ""; for (f in hits) d = d (d == "" ? "" : ", ") f " " hits[f]
		      printf "%d %s\n", total, (d == "" ? "none" : d) }') || true
	resets=${out%% *}
	resets_detail=${out#* }
	echo "# resets${1:+ ($1)}: $resets ($resets_detail)"
}

# reset_count_stop: stop the profiler (the filter stays, harmless).
reset_count_stop() {
	echo 0 >"$tracing/function_profile_enabled" 2>/dev/null || true
}
