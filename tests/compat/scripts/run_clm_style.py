"""A causal language-modelling script in the shape of transformers' official `run_clm.py`.

Argument dataclasses through the parser, the examples' logging set-up, last-checkpoint
detection, `datasets` preprocessing, train with metrics, evaluate with perplexity, and the
epilogue every official example ends with: `save_model`, `log_metrics` / `save_metrics` /
`save_state`, then `create_model_card(**kwargs)` when not pushing. Only the training-API
import line differs from the transformers version (the test swaps it). Nothing is downloaded:
the model is a small random GPT-2 and the text is made here.
"""

# ruff: noqa: UP045 - `Optional[...]`, as the public scripts write it

import logging
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

import datasets
import numpy as np
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, default_data_collator
from transformers.trainer_utils import get_last_checkpoint

from trainer import HfArgumentParser, Trainer, TrainingArguments, set_seed

logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(
        default=None, metadata={"help": "The model checkpoint for weights initialization."}
    )
    n_layer: int = field(default=2, metadata={"help": "Layers of the model trained from scratch."})


@dataclass
class DataTrainingArguments:
    dataset_name: Optional[str] = field(default="synthetic", metadata={"help": "Dataset name."})
    block_size: Optional[int] = field(
        default=16, metadata={"help": "Block size after tokenization."}
    )
    max_eval_samples: Optional[int] = field(default=None, metadata={"help": "Truncate eval."})


def make_text() -> list[str]:
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"]
    return [" ".join(rng.choice(words, size=12)) for _ in range(96)]


def main():
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses()

    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()
    log_level = training_args.get_process_log_level()
    logger.setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    logger.warning(
        f"Process rank: {training_args.local_process_index}, device: {training_args.device}, "
        f"n_gpu: {training_args.n_gpu}, distributed training: {training_args.parallel_mode.value == 'distributed'}"
    )
    logger.info(f"Training/evaluation parameters {training_args}")

    last_checkpoint = None
    if os.path.isdir(training_args.output_dir) and training_args.do_train:
        last_checkpoint = get_last_checkpoint(training_args.output_dir)
        if last_checkpoint is not None and training_args.resume_from_checkpoint is None:
            logger.info(f"Checkpoint detected, resuming training at {last_checkpoint}.")

    set_seed(training_args.seed)
    vocab = sorted({w for line in make_text() for w in line.split()})
    raw = datasets.Dataset.from_dict({"text": make_text()}).train_test_split(test_size=0.25, seed=0)

    def tokenize(batch):
        return {"input_ids": [[vocab.index(w) + 1 for w in text.split()] for text in batch["text"]]}

    block_size = data_args.block_size

    def group_texts(examples):
        concatenated = [token for ids in examples["input_ids"] for token in ids]
        total = (len(concatenated) // block_size) * block_size
        blocks = [concatenated[i : i + block_size] for i in range(0, total, block_size)]
        return {"input_ids": blocks, "labels": [list(b) for b in blocks]}

    with training_args.main_process_first(desc="dataset map tokenization"):
        tokenized = raw.map(tokenize, batched=True, remove_columns=["text"])
    with training_args.main_process_first(desc="grouping texts together"):
        lm_datasets = tokenized.map(group_texts, batched=True)
    train_dataset, eval_dataset = lm_datasets["train"], lm_datasets["test"]
    if data_args.max_eval_samples is not None:
        eval_dataset = eval_dataset.select(
            range(min(len(eval_dataset), data_args.max_eval_samples))
        )

    config = GPT2Config(vocab_size=len(vocab) + 1, n_positions=block_size, n_embd=32,
                        n_layer=model_args.n_layer, n_head=2)  # fmt: skip
    model = GPT2LMHeadModel(config)

    def preprocess_logits_for_metrics(logits, labels):
        if isinstance(logits, tuple):
            logits = logits[0]
        return logits.argmax(dim=-1)

    def compute_metrics(eval_preds):
        preds, labels = eval_preds
        labels = labels[:, 1:].reshape(-1)
        preds = preds[:, :-1].reshape(-1)
        return {"accuracy": float((preds == labels).mean())}

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset if training_args.do_train else None,
        eval_dataset=eval_dataset if training_args.do_eval else None,
        data_collator=default_data_collator,
        compute_metrics=compute_metrics if training_args.do_eval else None,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics
        if training_args.do_eval
        else None,
    )

    if training_args.do_train:
        checkpoint = None
        if training_args.resume_from_checkpoint is not None:
            checkpoint = training_args.resume_from_checkpoint
        elif last_checkpoint is not None:
            checkpoint = last_checkpoint
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()  # Saves the tokenizer too for easy upload

        metrics = train_result.metrics
        metrics["train_samples"] = len(train_dataset)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()

    if training_args.do_eval:
        logger.info("*** Evaluate ***")
        metrics = trainer.evaluate()
        metrics["eval_samples"] = len(eval_dataset)
        try:
            perplexity = math.exp(metrics["eval_loss"])
        except OverflowError:
            perplexity = float("inf")
        metrics["perplexity"] = perplexity
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)

    kwargs = {"finetuned_from": model_args.model_name_or_path, "tasks": "text-generation"}
    if data_args.dataset_name is not None:
        kwargs["dataset_tags"] = data_args.dataset_name
        kwargs["dataset"] = data_args.dataset_name

    if training_args.push_to_hub:
        trainer.push_to_hub(**kwargs)
    else:
        trainer.create_model_card(**kwargs)


def _mp_fn(index):
    # For xla_spawn (TPUs)
    main()


if __name__ == "__main__":
    main()
