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
