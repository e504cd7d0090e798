"""Inputs made here, for the demo, the tests (runtime tests included) and the benchmarks: drawn faces,
scenes and videos (``synthetic``) and every kind of broken image file (``brokenfiles``). numpy and OpenCV
only, so the runtime's tests may use it without TensorFlow."""
