"""Run under torchrun with 2 CPU processes: `ddp_resume_job.py OUT_DIR`.

DDP: trains the tiny job uninterrupted (8 steps, a checkpoint every 2), then resumes a copy
of checkpoint-4 to step 8 in the same processes. FSDP2 (`fully_shard` on CPU, which
accelerate does not offer there): the sharded optimizer state is gathered, saved, loaded
into a fresh sharded model and training continues. Each rank writes
OUT_DIR/result_<rank>.json with whether its final weights are bitwise equal.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package
from support.regression_job import make_trainer

OPTIONS: dict[str, Any] = {"max_steps": 8, "dataloader_num_workers": 0}


def weights(trainer: Any) -> dict[str, torch.Tensor]:
    state = trainer.accelerator.get_state_dict(trainer.model_wrapped)
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _sharded() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    return model, torch.optim.AdamW(model.parameters(), lr=0.05)


def _fsdp_steps(model: torch.nn.Module, optimizer: Any, start: int, stop: int, rank: int) -> None:
    for step in range(start, stop):
        x = torch.randn(4, 4, generator=torch.Generator().manual_seed(10 * step + rank))
        model(x).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()


def check_fsdp_optimizer_state(out: Path, state: PartialState) -> bool:
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        set_model_state_dict,
    )

    from trainer_loop.checkpoints import load_checkpoint_optimizer_and_scheduler
    from trainer_loop.checkpoints.model_files import read_weights
    from trainer_loop.checkpoints.optimizer_state import optimizer_state_dict, save_optimizer

    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    rank, folder = state.process_index, out / "fsdp"
    model, optimizer = _sharded()
    _fsdp_steps(model, optimizer, 0, 6, rank)
    expected = get_model_state_dict(model, options=full)
    model, optimizer = _sharded()
    _fsdp_steps(model, optimizer, 0, 3, rank)
    gathered = optimizer_state_dict(optimizer, model)  # a collective: every rank
    weights = get_model_state_dict(model, options=full)
    if state.is_main_process:
        from trainer_loop.checkpoints import save_model_files

        folder.mkdir()
        save_optimizer(optimizer, folder, gathered)
        save_model_files(torch.nn.Module(), folder, state_dict=weights)
    state.wait_for_everyone()
    model, optimizer = _sharded()
    loaded = read_weights(folder)
    set_model_state_dict(model, loaded, options=StateDictOptions(full_state_dict=True))
    load_checkpoint_optimizer_and_scheduler(optimizer, None, None, folder, model=model)
    _fsdp_steps(model, optimizer, 3, 6, rank)
    got = get_model_state_dict(model, options=full)
    return all(torch.equal(expected[k], got[k]) for k in expected)


def main() -> None:
    out = Path(sys.argv[1])
    options = dict(OPTIONS)
    state = PartialState()
    reference = make_trainer(str(out / "ref"), **options)
    reference.train()
    expected = weights(reference)
    if state.is_main_process:
        shutil.copytree(out / "ref" / "checkpoint-4", out / "resumed" / "checkpoint-4")
    state.wait_for_everyone()
    resumed = make_trainer(str(out / "resumed"), **options)
    resumed.train(resume_from_checkpoint=True)
    got = weights(resumed)
    result = {
        "rank": state.process_index,
        "equal": expected.keys() == got.keys()
        and all(torch.equal(expected[k], got[k]) for k in got),
        "steps": resumed.state.global_step,
        "ref_folders": sorted(p.name for p in (out / "ref").iterdir()),
        "files": sorted(p.name for p in (out / "resumed" / "checkpoint-8").iterdir()),
        "fsdp_equal": check_fsdp_optimizer_state(out, state),
    }
    (out / f"result_{state.process_index}.json").write_text(json.dumps(result))
    state.wait_for_everyone()


if __name__ == "__main__":
    main()
    from trainer_dist.collectives import shutdown_process_group

    shutdown_process_group()
