"""Run a job: build the pieces from its factories, train, evaluate, save.

Works unchanged under `torchrun` / `accelerate launch`: every process builds the same
pieces, the Trainer handles the distribution, and only process 0 prints or writes
metrics files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from trainer.job_arguments import build_arguments
from trainer.jobs import Datasets, FactoryRef, Job, JobError, call_factory

__all__ = ["JobPieces", "JobResult", "build_pieces", "build_trainer", "run_job"]

_TRAIN_KEYS = ("train", "train_dataset")
_EVAL_KEYS = ("eval", "eval_dataset", "validation")


@attrs.define
class JobPieces:
    """What a job's factories produced, checked."""

    model: Any
    datasets: Datasets
    collator: Callable[..., Any] | None = None
    compute_metrics: Callable[..., Any] | None = None
    callbacks: list[Any] = attrs.field(factory=list)


@attrs.define
class JobResult:
    """Metrics of a finished job; `initial_eval` is set when evaluation ran before training."""

    output_dir: Path
    train: dict[str, Any]
    eval: dict[str, Any] | None = None
    initial_eval: dict[str, Any] | None = None
    is_main_process: bool = True
    trainer: Any = None  # the Trainer that ran, for showing what the model learned


def build_pieces(job: Job) -> JobPieces:
    """Call every factory of the job and check what each returns."""
    import torch

    model = call_factory(job.model, job.base_dir)
    if not isinstance(model, torch.nn.Module):
        raise JobError(_wrong_type(job.model, model, "a torch.nn.Module"))
    return JobPieces(
        model=model,
        datasets=_datasets(job.data, call_factory(job.data, job.base_dir)),
        collator=_callable(job.collator, job, "a data collator (a callable)"),
        compute_metrics=_callable(
            job.metrics, job, "compute_metrics, a callable taking an EvalPrediction"
        ),
        callbacks=[_callback(ref, job) for ref in job.callbacks],
    )


def build_trainer(job: Job, args: Any, pieces: JobPieces) -> Any:
    """A `Trainer` (or `Seq2SeqTrainer` for `trainer: seq2seq`) from the job's pieces."""
    trainer_class: Any
    if job.trainer == "seq2seq":
        from trainer_seq2seq.trainer import Seq2SeqTrainer

        trainer_class = Seq2SeqTrainer
    else:
        from trainer_loop.trainer import Trainer

        trainer_class = Trainer
    return trainer_class(
        model=pieces.model,
        args=args,
        data_collator=pieces.collator,
        train_dataset=pieces.datasets.train,
        eval_dataset=pieces.datasets.eval,
        compute_metrics=pieces.compute_metrics,
        callbacks=pieces.callbacks or None,
    )


def run_job(job: Job, overrides: Sequence[str] = (), evaluate_first: bool = False) -> JobResult:
    """Train (resuming if asked), evaluate when there is an eval set, save model and metrics."""
    from trainer_dist.seeding import set_seed

    args = build_arguments(job, overrides)
    resume = _checked_resume(args)
    # Seed before the model factory runs so its initial weights are reproducible too.
    set_seed(args.seed)
    pieces = build_pieces(job)
    trainer = build_trainer(job, args, pieces)
    has_eval = pieces.datasets.eval is not None
    result = JobResult(
        output_dir=Path(args.output_dir),
        train={},
        is_main_process=_is_main(trainer),
        trainer=trainer,
    )
    if evaluate_first and has_eval:
        result.initial_eval = dict(trainer.evaluate())
    result.train = dict(trainer.train(resume_from_checkpoint=resume).metrics)
    if result.initial_eval is not None:
        # train() starts a fresh state; keep the step-0 evaluation in the saved history so
        # that plots show where evaluation started.
        trainer.state.log_history.insert(0, {**result.initial_eval, "step": 0})
    trainer.save_model()
    trainer.log_metrics("train", result.train)
    trainer.save_metrics("train", result.train)
    if has_eval:
        result.eval = dict(trainer.evaluate())
        trainer.log_metrics("eval", result.eval)
        trainer.save_metrics("eval", result.eval)
    # Last, so that the saved history ends with the final evaluation.
    trainer.save_state()
    return result


def resume_value(value: Any) -> str | bool | None:
    """`--resume_from_checkpoint True` means "the newest checkpoint in output_dir"."""
    if value is None or value is False:
        return None
    if value is True or str(value).strip().lower() == "true":
        return True
    if str(value).strip().lower() in ("", "false", "none"):
        return None
    return str(value)


def _checked_resume(args: Any) -> str | bool | None:
    """The resume target, refused up front (a usage error) when there is nothing to resume."""
    from trainer_loop.checkpoints import get_last_checkpoint

    resume = resume_value(args.resume_from_checkpoint)
    if resume is True and get_last_checkpoint(args.output_dir) is None:
        raise JobError(
            f"--resume_from_checkpoint True: no complete checkpoint in {args.output_dir} "
            "to resume from"
        )
    if isinstance(resume, str) and not Path(resume).is_dir():
        raise JobError(f"--resume_from_checkpoint: no checkpoint folder {resume}")
    return resume


def _is_main(trainer: Any) -> bool:
    check = getattr(trainer, "is_world_process_zero", None)
    return bool(check()) if callable(check) else trainer.args.process_index == 0


def _wrong_type(ref: FactoryRef, value: Any, expected: str) -> str:
    return f"{ref.where}: {ref.target} returned {type(value).__name__}; expected {expected}"


def _datasets(ref: FactoryRef, value: Any) -> Datasets:
    """The data factory's result as `Datasets`, from `Datasets` or a mapping of splits."""
    expected = "trainer.jobs.Datasets(train=..., eval=...) or a mapping {'train': ..., 'eval': ...}"
    if isinstance(value, Mapping):
        train = next((value[key] for key in _TRAIN_KEYS if key in value), None)
        if train is None:
            raise JobError(
                f"{ref.where}: {ref.target} returned a mapping with keys {sorted(value)}; "
                f"it needs a 'train' split ({expected})"
            )
        value = Datasets(train=train, eval=next((value[k] for k in _EVAL_KEYS if k in value), None))
    if not isinstance(value, Datasets):
        raise JobError(_wrong_type(ref, value, expected))
    for split, dataset in (("train", value.train), ("eval", value.eval)):
        if dataset is not None and not _is_dataset(dataset):
            raise JobError(
                f"{ref.where}: {ref.target}: the {split} split is a {type(dataset).__name__}, "
                "not a dataset (a sized, indexable collection or an iterable of examples)"
            )
    return value


def _is_dataset(value: Any) -> bool:
    if isinstance(value, (str, bytes, Mapping)):
        return False
    indexable = hasattr(value, "__getitem__") and hasattr(value, "__len__")
    return indexable or hasattr(value, "__iter__")


def _callable(ref: FactoryRef | None, job: Job, expected: str) -> Callable[..., Any] | None:
    if ref is None:
        return None
    value = call_factory(ref, job.base_dir)
    if not callable(value):
        raise JobError(_wrong_type(ref, value, expected))
    return value  # type: ignore[no-any-return]


def _callback(ref: FactoryRef, job: Job) -> Any:
    from trainer_loop.callbacks.base import TrainerCallback

    value = call_factory(ref, job.base_dir)
    if not isinstance(value, TrainerCallback):
        raise JobError(_wrong_type(ref, value, "a TrainerCallback instance"))
    return value
