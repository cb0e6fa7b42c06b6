"""Helpers of the compatibility tests (no tests here): a tokenizer built offline, tiny configs,
a made-up sentiment dataset, and side-by-side runs of `transformers.Trainer` and ours.

"ours" is the umbrella `trainer` package: the import a transformers user swaps in.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from support.accelerate_state import reset_accelerate

import trainer as ours

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "the",
    "a",
    "movie",
    "film",
    "was",
    "is",
    "were",
    "great",
    "good",
    "bad",
    "awful",
    "fun",
    "boring",
    "plot",
    "actors",
    "loved",
    "hated",
    "it",
    "and",
    "but",
    "really",
    "very",
    "not",
    "story",
    "ending",
    "music",
    "long",
]

SENTIMENT = [
    ("the movie was great", 1),
    ("a film is bad", 0),
    ("the plot was really boring and the actors awful", 0),
    ("loved it", 1),
    ("hated it but the music was fun", 0),
    ("very very good", 1),
    ("not good", 0),
    ("the actors were great and the story was fun", 1),
    ("the ending was long and boring", 0),
    ("a really good film", 1),
]

SPEED_SUFFIXES = ("_runtime", "_per_second", "_model_preparation_time")


def make_tokenizer() -> Any:
    """A word-level fast tokenizer over WORDS with BERT-style specials (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=32,
    )


def sentiment_dataset(tokenizer: Any) -> Any:
    """Tokenised `datasets.Dataset` with the extra columns a tutorial keeps (`sentence`, `idx`)."""
    import datasets

    texts, labels = zip(*SENTIMENT)
    raw = datasets.Dataset.from_dict(
        {"sentence": list(texts), "label": list(labels), "idx": list(range(len(texts)))}
    )
    return raw.map(lambda batch: tokenizer(batch["sentence"], truncation=True), batched=True)


def text_dataset(tokenizer: Any) -> Any:
    """Tokenised `datasets.Dataset` of the sentences alone, keeping `text` and `idx` columns."""
    import datasets

    texts = [text for text, _ in SENTIMENT]
    raw = datasets.Dataset.from_dict({"text": texts, "idx": list(range(len(texts)))})
    return raw.map(lambda batch: tokenizer(batch["text"]), batched=True)


# ---- tiny models ----------------------------------------------------------------------------


def gpt2_config(vocab_size: int) -> Any:
    from transformers import GPT2Config

    return GPT2Config(
        n_layer=2, n_embd=32, n_head=2, vocab_size=vocab_size, n_positions=32,
        bos_token_id=2, eos_token_id=3, pad_token_id=0,
    )  # fmt: skip


def bert_config(vocab_size: int, **overrides: Any) -> Any:
    from transformers import BertConfig

    kwargs: dict[str, Any] = dict(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=32, num_labels=2, pad_token_id=0,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    kwargs.update(overrides)
    return BertConfig(**kwargs)


def t5_config(vocab_size: int) -> Any:
    from transformers import T5Config

    return T5Config(
        vocab_size=vocab_size, d_model=32, d_ff=64, d_kv=8, num_layers=2, num_heads=4,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=3, dropout_rate=0.0,
    )  # fmt: skip


def seeded(factory: Callable[[], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return factory()


# ---- running both trainers ----------------------------------------------------------------------


def common_args(output_dir: Path, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "output_dir": str(output_dir),
        "use_cpu": True,
        "report_to": "none",
        "disable_tqdm": True,
        "save_strategy": "no",
        "logging_steps": 1,
        "learning_rate": 1e-2,
        "seed": 7,
    }
    kwargs.update(overrides)
    return kwargs


def reference_module() -> Any:
    import transformers

    return transformers


def run_side_by_side(
    model: torch.nn.Module,
    tmp_path: Path,
    trainer_kwargs: Callable[[torch.nn.Module], dict[str, Any]],
    *,
    seq2seq: bool = False,
    evaluate: bool = False,
    **arg_overrides: Any,
) -> dict[str, Any]:
    """Train a copy of `model` with transformers' Trainer and with ours; return both trainers.

    `trainer_kwargs(model)` builds the remaining Trainer arguments for each copy (collators
    such as DataCollatorForSeq2Seq hold the model). Each run starts from the same weights
    and from fresh accelerate state.
    """
    trainers: dict[str, Any] = {}
    for name, module in (("reference", reference_module()), ("ours", ours)):
        reset_accelerate()
        copy_of_model = copy.deepcopy(model)
        args_cls = module.Seq2SeqTrainingArguments if seq2seq else module.TrainingArguments
        trainer_cls = module.Seq2SeqTrainer if seq2seq else module.Trainer
        args = args_cls(**common_args(tmp_path / name, **arg_overrides))
        trainer = trainer_cls(model=copy_of_model, args=args, **trainer_kwargs(copy_of_model))
        trainer.train()
        if evaluate:
            trainer.evaluate()
        trainers[name] = trainer
    return trainers


def without_speed(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not k.endswith(SPEED_SUFFIXES)}


def assert_same_logs(
    reference: list[dict[str, Any]], ours_logs: list[dict[str, Any]], rtol: float = 1e-5
) -> None:
    """Same entries, same keys (speed metrics aside), numbers equal within `rtol`."""
    assert len(ours_logs) == len(reference), (reference, ours_logs)
    for ref_entry, our_entry in zip(reference, ours_logs):
        ref_entry, our_entry = without_speed(ref_entry), without_speed(our_entry)
        assert sorted(our_entry) == sorted(ref_entry), (ref_entry, our_entry)
        for key, value in ref_entry.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(our_entry[key]), key
            elif isinstance(value, (int, float)):
                assert our_entry[key] == _approx(value, rtol), (key, ref_entry, our_entry)
            else:
                assert our_entry[key] == value, key


def _approx(value: float, rtol: float) -> Any:
    import pytest

    return pytest.approx(value, rel=rtol, abs=1e-8)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, rtol: float = 1e-5) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for key in state_a:
        torch.testing.assert_close(state_b[key], state_a[key], rtol=rtol, atol=1e-7, msg=key)


def losses_moved(logs: list[dict[str, Any]]) -> bool:
    """The run actually learned something (a comparison of two frozen runs proves little)."""
    losses = [e["loss"] for e in logs if "loss" in e]
    return len(losses) >= 2 and losses[-1] < losses[0]


def accuracy(eval_prediction: Any) -> dict[str, float]:
    """The compute_metrics of the text classification tutorial."""
    predictions = np.argmax(eval_prediction.predictions, axis=-1)
    return {"accuracy": float((predictions == eval_prediction.label_ids).mean())}
