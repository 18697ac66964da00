# Source on the device machine from the checkout's root: EGL loaders, the carried wheels, the checkout on the path.
#   . benchmarks/device/setup.sh      (see docs/performance.md, "Running on the GPU machine")
# Installs every wheel under .whl*/ (a call may carry at most 64 MiB with the tree, so the wheels can arrive in
# two calls: .whl with PyAV alone, then .whl2 with the rest; a warm machine keeps what the first call brought).
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl*/*.whl
python3 benchmarks/device/dist_info.py /tmp/site
export PYTHONPATH="/tmp/site:$PWD:$PWD/plugins" MUJOCO_GL=egl PYOPENGL_PLATFORM=egl PYTHONUNBUFFERED=1
