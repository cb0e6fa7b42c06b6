"""The demos' data and models, without training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainer import plot
from trainer.demos import DEMOS, demo_job_file, runner
from trainer.demos.reverse import (
    EOS_ID,
    ReversedStrings,
    decode,
    exact_match,
    reverse_collator,
    reverse_data,
)
from trainer.demos.text import CharVocab, lm_collator, lm_data, lm_model, load_corpus
from trainer.jobs import load_job
from trainer.run import JobResult


def test_corpus_is_a_few_tens_of_kilobytes_of_text() -> None:
    corpus = load_corpus()
    assert 15_000 < len(corpus) < 60_000
    assert len(CharVocab(corpus)) < 100


def test_vocab_round_trip() -> None:
    vocab = CharVocab("hello world")
    assert vocab.decode(vocab.encode("low hold")) == "low hold"


def test_lm_windows_and_model_loss() -> None:
    datasets = lm_data(block_size=32, stride=32)
    item = datasets.train[0]
    assert item["input_ids"].shape == (32,) and torch.equal(item["input_ids"], item["labels"])
    assert len(datasets.eval) > 0
    torch.manual_seed(0)
    model = lm_model(block_size=32, n_embd=16, n_layer=1, n_head=2)
    batch = lm_collator()([datasets.train[i] for i in range(4)])
    output = model(**batch)
    assert output.logits.shape == (4, 32, model.config.vocab_size)
    # an untrained model is close to uniform: loss near log(vocab size)
    assert abs(output.loss.item() - np.log(model.config.vocab_size)) < 0.5
    assert model.generate(batch["input_ids"][:1, :5], max_new_tokens=3).shape == (1, 8)


def test_reverse_examples() -> None:
    data = ReversedStrings(50, seed=3)
    item = data[0]
    assert item["labels"][-1] == EOS_ID
    assert decode(item["labels"]) == decode(item["input_ids"])[::-1]
    assert ReversedStrings(50, seed=3).texts == data.texts  # seeded


def test_reverse_splits_are_different() -> None:
    splits = reverse_data(train_size=100, eval_size=20)
    assert splits.train.texts[:20] != splits.eval.texts


def test_reverse_collator_pads() -> None:
    batch = reverse_collator()(
        [{"input_ids": [3, 2], "labels": [3, 4, 2]}, {"input_ids": [5, 6, 2], "labels": [4, 2]}]
    )
    assert batch["input_ids"].tolist() == [[3, 2, 0], [5, 6, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch["labels"].tolist() == [[3, 4, 2], [4, 2, -100]]


def test_exact_match_ignores_start_padding_and_after_eos() -> None:
    labels = np.array([[3, 4, 2], [5, 2, -100]])
    predictions = np.array([[1, 3, 4, 2, 0], [1, 6, 2, 0, 0]])
    assert exact_match(predictions, labels) == 0.5


def test_bundled_job_files_parse() -> None:
    for kind in DEMOS:
        job = load_job(demo_job_file(kind))
        assert job.name == kind


def test_metrics_table_shows_before_after_and_hides_timings() -> None:
    result = JobResult(
        output_dir=Path("x"),
        train={"train_loss": 1.5, "train_runtime": 3.0, "total_flos": 0.0, "epoch": 2.0},
        eval={"eval_loss": 1.25, "eval_exact_match": 0.9, "eval_runtime": 0.1},
        initial_eval={"eval_loss": 4.0, "eval_exact_match": 0.0, "eval_runtime": 0.1},
    )
    lines = runner.metrics_table(result, seconds=12.34).strip().splitlines()
    assert lines[0].split() == ["metric", "before", "training", "after", "training"]
    body = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert body["eval_loss"] == ["4.0000", "1.2500"]
    assert body["eval_exact_match"] == ["0.0000", "0.9000"]
    assert body["train_loss"] == ["1.5000"]
    assert body["wall"] == ["time", "(s)", "12.3"]
    assert not any("runtime" in line or "flos" in line for line in lines)


def test_demo_without_matplotlib_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_matplotlib(*args: object, **kwargs: object) -> Path:
        raise plot.PlotError(plot.INSTALL_HINT)

    monkeypatch.setattr(plot, "plot_runs", no_matplotlib)
    runner._plot(tmp_path, "lm")
    assert 'pip install "trainer[plot]"' in capsys.readouterr().out
