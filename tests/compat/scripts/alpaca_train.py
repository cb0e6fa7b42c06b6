"""An Alpaca-style supervised fine-tuning `train.py`, as public scripts write it.

Only the training-API import line differs from the transformers version (the test swaps
it). Model, data and training arguments come from three dataclasses through the parser,
the training arguments subclass `TrainingArguments` with `@dataclass` (fields with help
metadata, its own `__post_init__`), and a `Trainer` subclass overrides `compute_loss`. The
tokenizer is replaced by a fixed character vocabulary: nothing is downloaded.
"""

# ruff: noqa: UP045 - `Optional[...]`, as the public scripts write it

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import torch
import transformers
from torch.utils.data import Dataset

from trainer import HfArgumentParser, Trainer, TrainingArguments

IGNORE_INDEX = -100
PAD_ID = 0
VOCAB = " abcdefghijklmnopqrstuvwxyz.:"
PROMPT = "instruction: {instruction}. response:"


@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(default="tiny-gpt2")


@dataclass
class DataArguments:
    data_path: str = field(default=None, metadata={"help": "Path to the training data."})


@dataclass
class TrainingArguments(TrainingArguments):
    cache_dir: Optional[str] = field(default=None)
    optim: str = field(default="adamw_torch")
    model_max_length: int = field(
        default=512,
        metadata={
            "help": "Maximum sequence length. Sequences will be right padded (and possibly truncated)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        self.effective_max_length = min(self.model_max_length, 64)


def encode(text: str, max_length: int) -> list[int]:
    return [VOCAB.index(c) + 1 for c in text.lower() if c in VOCAB][:max_length]


class SupervisedDataset(Dataset):
    """Prompt + response token ids; the prompt's labels are IGNORE_INDEX."""

    def __init__(self, data_path: str, max_length: int):
        super().__init__()
        with open(data_path) as handle:
            records = json.load(handle)
        self.input_ids, self.labels = [], []
        for record in records:
            source = encode(PROMPT.format_map(record), max_length)
            ids = encode(PROMPT.format_map(record) + record["output"], max_length)
            labels = copy.deepcopy(ids)
            labels[: len(source)] = [IGNORE_INDEX] * len(source)
            self.input_ids.append(torch.tensor(ids))
            self.labels.append(torch.tensor(labels))

    def __len__(self):
        return len(self.input_ids)

    def __getitem__(self, i):
        return {"input_ids": self.input_ids[i], "labels": self.labels[i]}


@dataclass
class DataCollatorForSupervisedDataset:
    def __call__(self, instances: Sequence[dict]) -> dict[str, torch.Tensor]:
        input_ids, labels = tuple(
            [inst[key] for inst in instances] for key in ("input_ids", "labels")
        )
        input_ids = torch.nn.utils.rnn.pad_sequence(
            input_ids, batch_first=True, padding_value=PAD_ID
        )
        labels = torch.nn.utils.rnn.pad_sequence(
            labels, batch_first=True, padding_value=IGNORE_INDEX
        )
        return {"input_ids": input_ids, "labels": labels, "attention_mask": input_ids.ne(PAD_ID)}


class WeightedLossTrainer(Trainer):
    """A Trainer subclass with its own loss: token cross-entropy, the response weighted up."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs.logits[:, :-1].reshape(-1, outputs.logits.size(-1))
        target = labels[:, 1:].reshape(-1)
        loss = torch.nn.functional.cross_entropy(
            logits, target, ignore_index=IGNORE_INDEX, reduction="sum"
        )
        denominator = (
            num_items_in_batch if num_items_in_batch is not None else target.ne(IGNORE_INDEX).sum()
        )
        loss = 1.5 * loss / denominator
        return (loss, outputs) if return_outputs else loss


def safe_save_model_for_hf_trainer(trainer, output_dir: str):
    """Collects the state dict and dump to disk."""
    state_dict = trainer.model.state_dict()
    if trainer.args.should_save:
        cpu_state_dict = {key: value.cpu() for key, value in state_dict.items()}
        del state_dict
        trainer._save(output_dir, state_dict=cpu_state_dict)


def train():
    logging.basicConfig(level=logging.WARNING)
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    _model_args, data_args, training_args = parser.parse_args_into_dataclasses()
    torch.manual_seed(training_args.seed)
    config = transformers.GPT2Config(
        vocab_size=len(VOCAB) + 1, n_positions=64, n_embd=32, n_layer=2, n_head=2,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(config)
    dataset = SupervisedDataset(data_args.data_path, training_args.effective_max_length)
    trainer = WeightedLossTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=DataCollatorForSupervisedDataset(),
    )
    trainer.train()
    trainer.save_state()
    safe_save_model_for_hf_trainer(trainer=trainer, output_dir=training_args.output_dir)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    print("RESULT " + json.dumps({"losses": losses, "type": type(training_args).__name__,
                                  "model_max_length": training_args.model_max_length}))  # fmt: skip


if __name__ == "__main__":
    train()
