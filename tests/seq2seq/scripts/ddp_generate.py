"""Run Seq2SeqTrainer.predict with generation on every process; write what rank N sees.

Launched by test_multiprocess.py with torchrun (2 CPU processes, gloo). Usage:
    ddp_generate.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.demos.tiny_seq2seq import TinySeq2Seq, TinySeq2SeqConfig
from trainer_args import Seq2SeqTrainingArguments
from trainer_loop.outputs import ModelOutput
from trainer_seq2seq import GenerationConfig, Seq2SeqTrainer

PAD, EOS = 0, 1
WORDS = [[2, 3, 4], [5, 6, 7, 8, 9], [4, 2], [9, 9, 3, 2], [7], [3, 4, 5], [6, 2, 8, 8, 5]]


class Reverser(nn.Module):
    """Generates [start, reversed source, eos]: batch widths differ between processes."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.config = TinySeq2SeqConfig(vocab_size=12)
        # max_length 2: generated ids are never padded up to it, so widths stay ragged.
        self.generation_config = GenerationConfig(max_length=2, pad_token_id=PAD, eos_token_id=EOS)

    def forward(self, input_ids: torch.Tensor, attention_mask: Any, labels: Any) -> ModelOutput:
        logits = self.scale * torch.zeros((*labels.shape, 12))
        loss = nn.functional.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), ignore_index=-100
        )
        return ModelOutput(loss=loss, logits=logits)

    def generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any
    ) -> torch.Tensor:
        rows = [
            [PAD, *ids[mask.bool()].flip(0).tolist(), EOS]
            for ids, mask in zip(input_ids, attention_mask)
        ]
        width = max(map(len, rows))
        return torch.tensor([row + [PAD] * (width - len(row)) for row in rows])


def examples() -> list[dict[str, torch.Tensor]]:
    out = []
    for word in WORDS:
        source = torch.tensor(word + [PAD] * (5 - len(word)))
        labels = torch.tensor(word[::-1] + [EOS] + [-100] * (5 - len(word)))
        out.append(
            {"input_ids": source, "attention_mask": (source != PAD).long(), "labels": labels}
        )
    return out


def predict(model: nn.Module, out: Path, **gen_kwargs: Any) -> Any:
    args = Seq2SeqTrainingArguments(
        output_dir=str(out / "run"),
        per_device_eval_batch_size=2,
        predict_with_generate=True,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
    )
    return Seq2SeqTrainer(model=model, args=args).predict(examples(), **gen_kwargs)


def main(out: Path) -> None:
    torch.manual_seed(0)
    tiny = TinySeq2Seq(TinySeq2SeqConfig(vocab_size=12))
    ragged = predict(Reverser(), out)
    generated = predict(tiny, out, num_beams=2)
    rank = int(torch.distributed.get_rank()) if torch.distributed.is_initialized() else 0
    result = {
        "world_size": torch.distributed.get_world_size()
        if torch.distributed.is_initialized()
        else 1,
        "ragged": ragged.predictions.tolist(),
        "ragged_labels": ragged.label_ids.tolist(),
        "tiny": generated.predictions.tolist(),
    }
    (out / f"result_{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    from trainer_dist.collectives import shutdown_process_group

    shutdown_process_group()
