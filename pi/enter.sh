#!/usr/bin/env bash
# Run one command inside an arm64 root file system, as a Pi would: a Pi 4 CPU model (QEMU_CPU) and a Pi 4
# /proc/cpuinfo. Called by pi/check.sh through `unshare --mount --propagation private`, so every mount made
# here lives in a private mount namespace and disappears with it even on SIGKILL; the trap unmounts anyway.
#
#   pi/enter.sh ROOTFS STAGE CPUINFO PIPCACHE VIDEO|- -- COMMAND...
#
# Mounts: /proc (with CPUINFO over /proc/cpuinfo), /dev, /sys (read-only), STAGE at /hs (the wheel, the tests,
# inside.sh; outputs go to /hs/out), PIPCACHE at /root/.cache/pip, VIDEO at /shared/data/video/face_clip.mp4
# (where the tests look for it: the parent of /hs is /).
set -euo pipefail

if [ $# -lt 7 ] || [ "$6" != "--" ]; then
	echo "usage: $0 ROOTFS STAGE CPUINFO PIPCACHE VIDEO|- -- COMMAND..." >&2
	exit 2
fi
rootfs=$(realpath "$1")
stage=$(realpath "$2")
cpuinfo=$(realpath "$3")
pipcache=$(realpath "$4")
video=$5
shift 6

mounted=()
cleanup() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# mount_at TARGET MOUNT-ARGS...: mount, and remember it for the trap.
mount_at() {
	local target=$1
	shift
	mount "$@" "$target"
	mounted+=("$target")
}

mkdir -p "$rootfs/hs" "$rootfs/root/.cache/pip" "$rootfs/shared/data/video"
mount_at "$rootfs/proc" -t proc proc
mount_at "$rootfs/proc/cpuinfo" --bind "$cpuinfo"
mount_at "$rootfs/dev" --bind /dev
mount_at "$rootfs/sys" --bind -o ro /sys
mount_at "$rootfs/hs" --bind "$stage"
mount_at "$rootfs/root/.cache/pip" --bind "$pipcache"
if [ "$video" != "-" ]; then
	touch "$rootfs/shared/data/video/face_clip.mp4"
	mount_at "$rootfs/shared/data/video/face_clip.mp4" --bind -o ro "$(realpath "$video")"
fi
cp -L /etc/resolv.conf "$rootfs/etc/resolv.conf"
# The host's CA bundle, so pip trusts what the host trusts (a TLS-inspecting egress proxy, say).
ca_env=()
host_ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
if [ -f "$host_ca" ]; then
	touch "$rootfs/etc/ssl/host-ca.crt"
	mount_at "$rootfs/etc/ssl/host-ca.crt" --bind -o ro "$(realpath "$host_ca")"
	ca_env=(PIP_CERT=/etc/ssl/host-ca.crt SSL_CERT_FILE=/etc/ssl/host-ca.crt)
fi

# A clean environment: only what a login shell on the Pi would have, plus the emulated CPU model.
chroot "$rootfs" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 TERM=dumb PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off "${ca_env[@]}" \
	QEMU_CPU="${QEMU_CPU:?QEMU_CPU must be set (e.g. cortex-a72)}" "$@"
