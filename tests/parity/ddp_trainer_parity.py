"""Run under torchrun (2 CPU processes): transformers.Trainer and ours on the same job, per-rank JSON out.

Usage: torchrun --nproc_per_node 2 ddp_trainer_parity.py OUT_DIR
"""

from __future__ import annotations

import copy
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

warnings.filterwarnings("ignore")


class Regression(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = (self.x @ torch.arange(1.0, 5.0)).unsqueeze(1) + 0.1 * torch.randn(
            n, 1, generator=g
        )

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": self.x[i], "labels": self.y[i]}


class Model(nn.Module):
    main_input_name = "x"

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        # A large count so that the FLOP total is beyond float32's exact integers.
        return 1_000_003 * sum(p.numel() for p in self.parameters())

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        logits = self.head(torch.tanh(self.linear(x)))
        out = {"logits": logits}
        if labels is not None:
            n = kwargs.get("num_items_in_batch")
            loss = nn.functional.mse_loss(logits, labels, reduction="sum")
            out["loss"] = loss / n if n is not None else loss / labels.numel()
        return out


def metrics(p: Any) -> dict[str, float]:
    return {"mae": float(abs(p.predictions - p.label_ids).mean()), "n": len(p.predictions)}


def run(module: str, out: Path) -> dict[str, Any]:
    mod = __import__(module, fromlist=["Trainer", "TrainingArguments"])
    torch.manual_seed(0)
    model = Model()
    args = mod.TrainingArguments(
        output_dir=str(out / module), use_cpu=True, report_to="none", disable_tqdm=True,
        per_device_train_batch_size=3, per_device_eval_batch_size=4, gradient_accumulation_steps=2,
        max_steps=5, logging_steps=1, eval_strategy="steps", eval_steps=2, save_strategy="no",
        learning_rate=0.05, seed=5, data_seed=9, include_num_input_tokens_seen="no",
    )  # fmt: skip
    trainer = mod.Trainer(
        model=copy.deepcopy(model), args=args, train_dataset=Regression(22, 0), eval_dataset=Regression(13, 1),
        compute_metrics=metrics,
    )  # fmt: skip
    trainer.train()
    predictions = trainer.predict(Regression(13, 1))
    history = [{k: v for k, v in e.items() if "runtime" not in k and "per_second" not in k}
               for e in trainer.state.log_history]  # fmt: skip
    return {
        "history": history,
        "weights": [p.detach().flatten().tolist() for p in trainer.model.parameters()],
        "predictions": predictions.predictions.flatten().tolist(),
        "test_metrics": {
            k: v for k, v in predictions.metrics.items() if "runtime" not in k and "second" not in k
        },
        "total_flos": trainer.state.total_flos,
    }


def main() -> None:
    out = Path(sys.argv[1])
    from accelerate.state import AcceleratorState, GradientState

    result = {}
    for module in ("transformers", "trainer_loop"):
        AcceleratorState._reset_state(False)
        GradientState._reset_state()
        if module == "trainer_loop":
            import trainer_args
            import trainer_loop

            trainer_loop.TrainingArguments = trainer_args.TrainingArguments  # type: ignore[attr-defined]
        result[module] = run(module, out)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    (out / f"result_{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
    from trainer_dist.collectives import shutdown_process_group

    shutdown_process_group()
