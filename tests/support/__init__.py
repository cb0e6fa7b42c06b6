"""Helpers shared by the test suites: root `tests/` and every `packages/*/tests`.

pytest puts `tests/` on `sys.path` (`pythonpath` in pyproject.toml), so test modules and
conftests write `from support.launch import free_port`. Scripts that tests run as separate
processes insert `tests/` into `sys.path` themselves, so they also run by hand.

Importing this package, or any module of it but `regression_job`, imports neither torch
nor accelerate (`nox -s args` runs the trainer-args tests in a venv without them):

- `torch_threads`   `one_torch_thread()` (context manager) and the autouse fixture
                    `one_torch_thread_fixture`: tiny models run on one torch thread;
- `launch`          `free_port()` and `launch_env()` for torchrun / accelerate launch;
- `accelerate_state` `reset_accelerate()`: forget accelerate's process-wide singletons;
- `regression_job`  the tiny regression job (data, dropout model, arguments, Trainer);
- `gpu_runner`      `run_tests()`: run a GPU test module's tests without pytest;
- `benchmarks`      `load_benchmark()`: a script of `benchmarks/` imported as a module.
"""
