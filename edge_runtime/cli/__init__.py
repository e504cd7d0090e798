"""The command lines: ``hs-run`` (``hs_run``) and ``hs-bench`` (``hs_bench``), the TOML settings file
(``configfile``), and what every happysad command shares (``kit``: --version, signals, one-line errors and
their exit codes). The only layer that prints for the user or chooses an exit code."""
