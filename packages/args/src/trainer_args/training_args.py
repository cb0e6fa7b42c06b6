"""`TrainingArguments`: every transformers 5.x field, normalised and validated at construction.

This module holds the fields (the one place they are declared), construction and the derived
properties; the class's other methods come from plain base classes in their own modules:
`set_*` from `trainer_args.setters`, `to_dict`/`from_dict`/files/`str()` from
`trainer_args.conversions`.

Nothing here imports torch. The torch-side properties (`device`, `n_gpu`, `parallel_mode`,
`distributed_state`) ask the device layer (trainer-dist, found through
`trainer_args.device_layer`) on first use and cache its answer on the instance in the
private attrs field `_device_setup` (excluded from init, eq, repr and to_dict).

Checks that need the hardware are left to `trainer_dist.devices.setup_devices`:
- `bf16`/`bf16_full_eval` without `use_cpu` on a machine with no bf16 GPU (ValueError upstream);
- `tf32=True` without TF32 support (ValueError upstream), and switching TF32 on or off;
- the torch_compile backend on HPU ("hpu_backend") or Neuron ("neuron"): here it is "inductor";
- `dataloader_multiprocessing_context="fork"` on MPS with more than one worker;
- accelerate `PartialState` creation and `accelerator_config.use_configured_state`;
- DeepSpeed: building `hf_deepspeed_config` / `deepspeed_plugin` from `deepspeed`;
- XLA FSDP dtype conversion of `fsdp_config["xla_fsdp_settings"]`.
"""

# ruff: noqa: RUF009, RUF036
# RUF009: `arg()` returns an attrs field, not a shared default. RUF036: union member order
# mirrors transformers, and the parser's union rules (HfArgumentParser's) depend on it.

import contextlib
import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs

from trainer_args import runtime, validation
from trainer_args.accelerator_config import AcceleratorConfig
from trainer_args.conversions import Conversions
from trainer_args.dataclass_protocol import speak_dataclass
from trainer_args.enums import (
    LOG_LEVELS,
    DebugOption,
    HubStrategy,
    IntervalStrategy,
    OptimizerNames,
    ParallelMode,
    SaveStrategy,
    SchedulerType,
)
from trainer_args.fields import arg
from trainer_args.setters import ConvenienceSetters

if TYPE_CHECKING:
    from datetime import timedelta

__all__ = ["TrainingArguments"]

_T = TypeVar("_T", bound="TrainingArguments")
_LOG_LEVEL_NAMES = list(LOG_LEVELS)
_TOKENS_SEEN = ("all", "non_padding", "no")


def _tokens_seen_check(value: object) -> str | None:
    if isinstance(value, bool) or value in _TOKENS_SEEN:
        return None
    return f"must be one of {list(_TOKENS_SEEN)} or a bool"


def _accelerator_config_check(value: object) -> str | None:
    if isinstance(value, type):
        return (
            "got a class, not an instance: pass AcceleratorConfig(...) with its options, "
            "a dict, or the path of a JSON file"
        )
    if value is None or isinstance(value, (dict, str, os.PathLike, AcceleratorConfig)):
        return None
    if callable(getattr(value, "to_dict", None)):  # transformers' AcceleratorConfig, duck-typed
        return None
    return "expected an AcceleratorConfig, a dict, a JSON string, or the path of a JSON file"


def _parallelism_config_check(value: object) -> str | None:
    if value is None or callable(getattr(value, "to_json", None)):
        return None
    return "expected an accelerate ParallelismConfig object (or None)"


@speak_dataclass
@attrs.define(slots=False, repr=False, on_setattr=attrs.setters.NO_OP)
class TrainingArguments(ConvenienceSetters, Conversions):
    """The arguments of a training run, field for field those of transformers 5.x.

    An attrs class that is also a dataclass to user code (`trainer_args.dataclass_protocol`):
    subclass it with `@dataclass` (or `@attrs.define`), call `super().__post_init__()` from
    your own `__post_init__`, read class-level defaults, and use `dataclasses.fields`,
    `asdict` and `replace`, as with transformers' class.
    """

    # Fields whose value may be a JSON string starting with "{" (parsed at construction).
    _VALID_DICT_FIELDS = [  # noqa: RUF012 - a plain class attribute, as in transformers
        "accelerator_config",
        "fsdp_config",
        "deepspeed",
        "activation_checkpointing_kwargs",
        "gradient_checkpointing_kwargs",
        "lr_scheduler_kwargs",
    ]

    # --- output, duration, batch size
    output_dir: str | None = arg(
        None,
        help="Folder for checkpoints and the final model; default 'trainer_output'.",
        accepts=str | os.PathLike | None,
    )
    per_device_train_batch_size: int = arg(8, help="Training micro-batch size per device.")
    num_train_epochs: float = arg(
        3.0, help="Number of training epochs; a fraction trains part of the last one."
    )
    max_steps: int = arg(
        -1, help="If > 0, total number of optimizer steps (overrides num_train_epochs)."
    )
    # --- learning rate and schedule
    learning_rate: float = arg(5e-5, help="Initial (peak) learning rate.")
    lr_scheduler_type: SchedulerType | str = arg(
        "linear", help="Learning-rate schedule, see SchedulerType."
    )
    lr_scheduler_kwargs: dict | str | None = arg(
        None, help="Extra keyword arguments for the schedule (dict or JSON)."
    )  # type: ignore[type-arg]
    warmup_steps: float = arg(
        0, help="Warmup length: >= 1 is a step count, < 1 a ratio of the total steps."
    )
    # --- optimizer
    optim: OptimizerNames | str = arg(
        "adamw_torch_fused", help="Optimizer name, see OptimizerNames."
    )
    optim_args: str | None = arg(None, help="Extra optimizer options as 'key=value,key2=value2'.")
    weight_decay: float = arg(0.0, help="Decoupled weight decay (not applied to biases and norms).")
    adam_beta1: float = arg(0.9, help="Adam beta1.")
    adam_beta2: float = arg(0.999, help="Adam beta2.")
    adam_epsilon: float = arg(1e-8, help="Adam epsilon.")
    optim_target_modules: None | str | list[str] = arg(
        None, help="Modules (names or regex) for GaLore/APOLLO optimizers."
    )
    # --- stability
    gradient_accumulation_steps: int = arg(1, help="Micro-batches accumulated per optimizer step.")
    average_tokens_across_devices: bool = arg(
        True, help="All-reduce the token count so the loss is normalised globally."
    )
    max_grad_norm: float = arg(1.0, help="Gradient clipping norm; 0 disables clipping.")
    label_smoothing_factor: float = arg(0.0, help="Label smoothing factor; 0 disables it.")
    # --- precision
    bf16: bool = arg(False, help="bf16 mixed precision training.")
    fp16: bool = arg(False, help="fp16 mixed precision training.")
    bf16_full_eval: bool = arg(False, help="Run evaluation with the model cast to bf16.")
    fp16_full_eval: bool = arg(False, help="Run evaluation with the model cast to fp16.")
    tf32: bool | None = arg(None, help="Switch TF32 matmuls on or off; None leaves them alone.")
    # --- activation checkpointing
    activation_checkpointing: bool | None = arg(
        None, help="Activation checkpointing: less memory, slower backward.", nargs="?", const=True
    )
    activation_checkpointing_kwargs: dict[str, Any] | str | None = arg(
        None, help="Options for activation checkpointing (every_n_layers, offload, ...)."
    )
    gradient_checkpointing: bool | None = arg(
        None, help="Deprecated alias of activation_checkpointing.", nargs="?", const=True
    )
    gradient_checkpointing_kwargs: dict[str, Any] | str | None = arg(
        None, help="Deprecated alias of activation_checkpointing_kwargs."
    )
    # --- compilation and kernels
    torch_compile: bool = arg(False, help="Compile the model with torch.compile.")
    torch_compile_backend: str | None = arg(
        None, help="torch.compile backend; setting it turns torch_compile on."
    )
    torch_compile_mode: str | None = arg(
        None, help="torch.compile mode; setting it turns torch_compile on."
    )
    use_liger_kernel: bool = arg(False, help="Patch the model with Liger kernels.")
    liger_kernel_config: dict[str, bool] | None = arg(
        None, help="Options for the Liger kernel patcher."
    )
    use_cache: bool = arg(False, help="Value of model.config.use_cache during training.")
    neftune_noise_alpha: float | None = arg(
        None, help="NEFTune embedding noise scale; None disables it."
    )
    torch_empty_cache_steps: int | None = arg(
        None, help="Empty the device cache every N steps; None never."
    )
    auto_find_batch_size: bool = arg(
        False, help="Retry with a smaller batch size after an out-of-memory error."
    )
    # --- logging
    logging_strategy: IntervalStrategy | str = arg(
        "steps", help="When to log: 'no', 'steps' or 'epoch'."
    )
    logging_steps: float = arg(
        500, help="Log every N steps; a value < 1 is a ratio of the total steps."
    )
    logging_first_step: bool = arg(False, help="Also log after the first step.")
    log_on_each_node: bool = arg(
        True, help="Log on the main process of every node, not only of node 0."
    )
    logging_nan_inf_filter: bool = arg(True, help="Leave NaN/Inf losses out of the logged loss.")
    include_num_input_tokens_seen: str | bool = arg(
        "no",
        help="Count input tokens seen: 'all', 'non_padding' or 'no'.",
        check=_tokens_seen_check,
    )
    log_level: str = arg("passive", help="Log level of the main process.", choices=_LOG_LEVEL_NAMES)
    log_level_replica: str = arg(
        "warning", help="Log level of replica processes.", choices=_LOG_LEVEL_NAMES
    )
    disable_tqdm: bool | None = arg(
        None, help="Disable progress bars; default: on when the log level is above WARNING."
    )
    # --- experiment tracking
    report_to: None | str | list[str] = arg(
        "none",
        help="Integrations to report to: a name, a list, 'all' or 'none'.",
        # None normalises to [None] as upstream (the Trainer then rejects it), so that must read back.
        accepts=None | str | list[str | None],
    )
    run_name: str | None = arg(None, help="Run name shown by trackers.")
    project: str = arg("huggingface", help="Project name (Trackio).")
    trackio_space_id: str | None = arg(None, help="Trackio Space id for live logging.")
    trackio_bucket_id: str | None = arg(None, help="Trackio bucket id.")
    trackio_static_space_id: str | None | Literal[False] = arg(
        None, help="Trackio static Space id; False disables the static Space."
    )
    # --- evaluation
    eval_strategy: IntervalStrategy | str = arg(
        "no", help="When to evaluate: 'no', 'steps' or 'epoch'."
    )
    eval_steps: float | None = arg(
        None, help="Evaluate every N steps (default logging_steps); < 1 is a ratio."
    )
    eval_delay: float = arg(0, help="Steps or epochs to wait before the first evaluation.")
    per_device_eval_batch_size: int = arg(8, help="Evaluation batch size per device.")
    prediction_loss_only: bool = arg(False, help="Return only the loss from evaluate and predict.")
    eval_on_start: bool = arg(False, help="Evaluate once before training starts.")
    eval_do_concat_batches: bool = arg(
        True, help="Concatenate eval outputs across batches (else keep a list)."
    )
    eval_use_gather_object: bool = arg(
        False, help="Gather arbitrary Python objects across processes in eval."
    )
    eval_accumulation_steps: int | None = arg(
        None, help="Move eval outputs to the CPU every N steps."
    )
    include_for_metrics: list[str] = arg(
        factory=list, help="Extra inputs for compute_metrics: 'inputs', 'loss'."
    )
    batch_eval_metrics: bool = arg(False, help="Call compute_metrics once per batch.")
    # --- checkpoints
    save_only_model: bool = arg(
        False, help="Save only the model in checkpoints (no optimizer, scheduler or RNG)."
    )
    save_strategy: SaveStrategy | str = arg(
        "steps", help="When to save: 'no', 'steps', 'epoch' or 'best'."
    )
    save_steps: float = arg(
        500, help="Save every N steps; a value < 1 is a ratio of the total steps."
    )
    save_on_each_node: bool = arg(
        False, help="Save on the main process of every node, not only of node 0."
    )
    save_total_limit: int | None = arg(
        None, help="Keep at most N checkpoints (the best and latest are kept)."
    )
    enable_jit_checkpoint: bool = arg(False, help="Save a checkpoint and stop on SIGTERM.")
    # --- hub
    push_to_hub: bool = arg(False, help="Push the model to the Hub when it is saved.")
    hub_token: str | None = arg(None, help="Hub token (masked in to_dict and repr).")
    hub_private_repo: bool | None = arg(None, help="Create the Hub repository as private.")
    hub_model_id: str | None = arg(None, help="Hub repository id; default: the name of output_dir.")
    hub_strategy: HubStrategy | str = arg(
        "every_save", help="What to push and when, see HubStrategy."
    )
    hub_always_push: bool = arg(False, help="Push even when the previous push has not finished.")
    hub_revision: str | None = arg(None, help="Hub branch or revision to push to.")
    # --- best model
    load_best_model_at_end: bool = arg(False, help="Load the best checkpoint when training ends.")
    metric_for_best_model: str | None = arg(
        None, help="Metric that picks the best model; default 'loss'."
    )
    greater_is_better: bool | None = arg(
        None, help="Whether a larger metric is better; default from the metric name."
    )
    # --- resuming and reproducibility
    ignore_data_skip: bool = arg(False, help="On resume, do not skip the batches already seen.")
    restore_callback_states_from_checkpoint: bool = arg(
        False, help="On resume, restore callback states."
    )
    full_determinism: bool = arg(
        False, help="Enable full determinism (slower) instead of only seeding."
    )
    seed: int = arg(42, help="Random seed set at the start of training.")
    data_seed: int | None = arg(None, help="Seed of the data sampler; default: seed.")
    use_cpu: bool = arg(False, help="Train on the CPU even when an accelerator is available.")
    # --- accelerate
    accelerator_config: dict | str | None = arg(  # type: ignore[type-arg]
        None,
        help="accelerate options (AcceleratorConfig, dict, JSON string or JSON file path).",
        accepts=dict | str | AcceleratorConfig | None,
        check=_accelerator_config_check,
    )
    parallelism_config: Any | None = arg(
        None, help="An accelerate ParallelismConfig.", check=_parallelism_config_check
    )
    # --- data loading
    dataloader_drop_last: bool = arg(False, help="Drop the last incomplete batch.")
    dataloader_num_workers: int = arg(
        0, help="DataLoader worker processes; 0 loads in the main process."
    )
    dataloader_pin_memory: bool = arg(True, help="Pin DataLoader memory.")
    dataloader_persistent_workers: bool = arg(
        False, help="Keep DataLoader workers alive between epochs."
    )
    dataloader_prefetch_factor: int | None = arg(
        None, help="Batches prefetched per worker (needs workers > 0)."
    )
    dataloader_multiprocessing_context: str | None = arg(
        None, help="Worker start method.", choices=["fork", "spawn", "forkserver"]
    )
    dataloader_in_order: bool = arg(True, help="Yield batches in dispatch order.")
    remove_unused_columns: bool = arg(
        True, help="Drop dataset columns the model's forward does not take."
    )
    label_names: list[str] | None = arg(None, help="Input keys that hold the labels.")
    train_sampling_strategy: str = arg(
        "random",
        help="Training sampler.",
        choices=["random", "sequential", "group_by_length", "batch_rebalance"],
    )
    length_column_name: str = arg(
        "length", help="Column with precomputed lengths for length-based samplers."
    )
    # --- DDP
    ddp_find_unused_parameters: bool | None = arg(None, help="DDP find_unused_parameters.")
    ddp_bucket_cap_mb: int | None = arg(None, help="DDP bucket_cap_mb.")
    ddp_broadcast_buffers: bool | None = arg(None, help="DDP broadcast_buffers.")
    ddp_static_graph: bool | None = arg(None, help="DDP static_graph.")
    ddp_backend: str | None = arg(
        None,
        help="Process group backend.",
        choices=["nccl", "gloo", "mpi", "xccl", "hccl", "cncl", "mccl"],
    )
    ddp_timeout: int = arg(1800, help="Process group timeout in seconds.")
    # --- FSDP and DeepSpeed
    fsdp: str | None = arg(
        None,
        help="Enable FSDP (True); legacy option strings are translated.",
        nargs="?",
        const=True,
        accepts=bool | str | list[str] | None,
    )
    fsdp_config: dict[str, Any] | str | None = arg(
        None, help="FSDP options (dict, JSON string or JSON file path)."
    )
    deepspeed: dict | str | None = arg(
        None, help="DeepSpeed config (dict, JSON string or JSON file path)."
    )  # type: ignore[type-arg]
    # --- debugging and script flags
    debug: str | list[DebugOption] = arg(
        "",
        help="Debug features, space separated: underflow_overflow, tpu_metrics_debug.",
        accepts=str | list[DebugOption] | None,
    )
    skip_memory_metrics: bool = arg(True, help="Skip the memory metrics.")
    do_train: bool = arg(False, help="Script flag: run training.")
    do_eval: bool = arg(False, help="Script flag: run evaluation.")
    do_predict: bool = arg(False, help="Script flag: run prediction.")
    resume_from_checkpoint: str | None = arg(
        None,
        help="Script flag: checkpoint folder to resume from.",
        accepts=str | os.PathLike | None,
    )
    local_rank: int = arg(-1, help="Legacy launcher argument; use local_process_index.")

    # --- derived, not user-facing (init=False: left out of to_dict, the parser and the schema)
    mixed_precision: str = attrs.field(default="no", init=False, eq=False)
    fsdp_plugin_args: dict[str, Any] | None = attrs.field(default=None, init=False, eq=False)
    deepspeed_plugin: Any = attrs.field(default=None, init=False, eq=False)
    _n_gpu: int | None = attrs.field(default=None, init=False, eq=False)
    _device_setup: Any = attrs.field(default=None, init=False, eq=False)

    def __post_init__(self) -> None:
        """Check and normalise the arguments, as transformers' `__post_init__` does.

        A `@dataclass` subclass's generated `__init__` calls it; a subclass that defines its
        own `__post_init__` calls `super().__post_init__()` from it, as with transformers.

        Raises:
            ValidationError: Naming every bad field, its value and what is allowed.
        """
        validation.post_init(self)

    def __attrs_post_init__(self) -> None:
        # Through the attribute, so that a subclass's `__post_init__` runs for attrs
        # construction too (and calls this class's with super()).
        self.__post_init__()

    def __replace__(self: _T, **changes: Any) -> _T:
        """`copy.replace(args, ...)` (Python 3.13), as for a dataclass: a new, validated copy."""
        import dataclasses

        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    # ------------------------------------------------------------ batch sizes
    @property
    def train_batch_size(self) -> int:
        """Batch size per process step: per-device size times the DataParallel GPU count."""
        return self.per_device_train_batch_size * max(1, runtime.n_gpu_hint(self))

    @property
    def eval_batch_size(self) -> int:
        """Batch size per evaluation step: per-device size times the DataParallel GPU count."""
        return self.per_device_eval_batch_size * max(1, runtime.n_gpu_hint(self))

    @property
    def ddp_timeout_delta(self) -> "timedelta":
        """`ddp_timeout` (seconds) as a `datetime.timedelta`, the form process groups take."""
        from datetime import timedelta

        return timedelta(seconds=self.ddp_timeout)

    # ------------------------------------------ torch side (the device layer)
    @property
    def device(self) -> Any:
        """The torch.device of this process (needs trainer-dist)."""
        return runtime.device_setup(self).device

    @property
    def n_gpu(self) -> int:
        """GPUs used by this process (> 1 only for single-process DataParallel)."""
        if self._n_gpu is None:
            self._n_gpu = int(runtime.device_setup(self).n_gpu)
        return self._n_gpu

    @property
    def parallel_mode(self) -> ParallelMode:
        """How the work is spread: one device, DataParallel over GPUs, or several processes.

        `NOT_PARALLEL` for the CPU or one GPU, `NOT_DISTRIBUTED` for several GPUs driven by
        one process (`torch.nn.DataParallel`), `DISTRIBUTED` for one process per device
        (torchrun, accelerate launch). Needs trainer-dist (it sets up the devices).
        """
        return runtime.parallel_mode(self)

    @property
    def distributed_state(self) -> Any:
        """accelerate's PartialState for this process (needs trainer-dist)."""
        return runtime.device_setup(self).distributed_state

    # --------------------------------------------- ranks (launcher env vars)
    @property
    def world_size(self) -> int:
        """Number of processes taking part in training (1 without a distributed launcher).

        Read from accelerate's state once the devices are set up, else from the launcher's
        `WORLD_SIZE` environment variable; so it needs no torch.
        """
        return runtime.rank_info(self, "num_processes", "WORLD_SIZE", 1)

    @property
    def process_index(self) -> int:
        """Global rank of this process, 0 to `world_size - 1` (`RANK` before device set-up)."""
        return runtime.rank_info(self, "process_index", "RANK", 0)

    @property
    def local_process_index(self) -> int:
        """Rank of this process on its own machine (`LOCAL_RANK` before device set-up)."""
        return runtime.rank_info(self, "local_process_index", "LOCAL_RANK", 0)

    @property
    def should_log(self) -> bool:
        """Whether this process logs: the main process, or each node's with `log_on_each_node`."""
        index = self.local_process_index if self.log_on_each_node else self.process_index
        return index == 0

    @property
    def should_save(self) -> bool:
        """Whether this process saves: the main process, or each node's with `save_on_each_node`."""
        index = self.local_process_index if self.save_on_each_node else self.process_index
        return index == 0

    @property
    def place_model_on_device(self) -> bool | None:
        """Whether the Trainer must move the model to `device`; None lets the Trainer decide.

        Always None here, as in transformers: the Trainer then moves the model unless it is
        model-parallel, DeepSpeed or FSDP, or evaluates in full fp16/bf16. Override it in a
        subclass to force either answer.
        """
        return None

    @property
    def _no_sync_in_gradient_accumulation(self) -> bool:
        return not self.deepspeed

    def get_process_log_level(self) -> int:
        """The `logging` level (an int) this process should use.

        `log_level` on a process that logs (`should_log`), `log_level_replica` on the others;
        `"passive"` gives the current effective level of the `trainer` logger.
        """
        name = self.log_level if self.should_log else self.log_level_replica
        level = LOG_LEVELS[name]
        return runtime.current_verbosity() if level == -1 else level

    @contextlib.contextmanager
    def main_process_first(self, local: bool = True, desc: str = "work") -> Iterator[None]:
        """Run the body on the (local) main process first; a no-op on one process."""
        if self.world_size <= 1:
            yield
            return
        state = self.distributed_state
        with state.local_main_process_first() if local else state.main_process_first():
            yield

    def get_warmup_steps(self, num_training_steps: int) -> int:
        """Number of warmup steps for a run of `num_training_steps` optimizer steps.

        `warmup_steps` of 1 or more is a step count; below 1 it is a fraction of the run,
        rounded up.
        """
        if self.warmup_steps >= 1:
            return int(self.warmup_steps)
        return math.ceil(num_training_steps * self.warmup_steps)
