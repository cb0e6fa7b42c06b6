"""Seq2SeqTrainer side by side with transformers.Seq2SeqTrainer on the same tiny T5.

Both trainers get copies of the same weights and the same examples; what a user sees from
`predict()`/`evaluate()` must agree: generated ids, their width and pad value, labels,
metric keys and the loss.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trainer.demos.tiny_seq2seq import TinySeq2Seq, TinySeq2SeqConfig
from trainer_args import Seq2SeqTrainingArguments
from trainer_seq2seq import Seq2SeqTrainer

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.reference

TIMING = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")


def _args(module: Any, output_dir: Path, **kwargs: Any) -> Any:
    return module.Seq2SeqTrainingArguments(
        output_dir=str(output_dir),
        per_device_eval_batch_size=4,
        report_to="none",
        disable_tqdm=True,
        **kwargs,
    )


class Recorder:
    """A compute_metrics that keeps what it was given and reports an exact-match rate."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, prediction: Any) -> dict[str, float]:
        if isinstance(prediction.predictions, tuple):  # forward outputs, not generated ids
            return {}
        self.calls.append((np.array(prediction.predictions), np.array(prediction.label_ids)))
        preds = prediction.predictions[:, 1:]
        labels = np.where(prediction.label_ids == -100, 0, prediction.label_ids)
        width = min(preds.shape[1], labels.shape[1])
        return {"exact_match": float((preds[:, :width] == labels[:, :width]).all(axis=1).mean())}


def _both(
    make_t5: Callable[[], Any], tmp_path: Path, args: dict[str, Any], **trainer_kwargs: Any
) -> tuple[Any, Any]:
    ours = Seq2SeqTrainer(
        model=make_t5(),
        args=_args(_Ours, tmp_path / "ours", **args),
        compute_metrics=Recorder(),
        **trainer_kwargs,
    )
    ref = transformers.Seq2SeqTrainer(
        model=make_t5(),
        args=_args(transformers, tmp_path / "ref", **args),
        compute_metrics=Recorder(),
        **trainer_kwargs,
    )
    return ours, ref


class _Ours:
    Seq2SeqTrainingArguments = Seq2SeqTrainingArguments


def _assert_same_metrics(ours: dict[str, Any], ref: dict[str, Any]) -> None:
    assert list(ours) == list(ref)
    for key, value in ref.items():
        if not key.endswith(TIMING):
            assert ours[key] == pytest.approx(value, rel=1e-5), key


def _assert_same_prediction(ours: Any, ref: Any) -> None:
    np.testing.assert_array_equal(ours.predictions, ref.predictions)
    np.testing.assert_array_equal(ours.label_ids, ref.label_ids)
    assert ours.predictions.dtype == ref.predictions.dtype
    _assert_same_metrics(ours.metrics, ref.metrics)


@pytest.mark.parametrize(
    ("args", "call"),
    [
        ({}, {}),  # greedy, padded to the model's generation_config.max_length (20)
        ({}, {"num_beams": 3}),
        ({"generation_max_length": 8}, {}),  # generates 8 at most, still padded to 20
        ({"generation_max_length": 8, "generation_num_beams": 2}, {"max_length": 5}),
        ({}, {"max_new_tokens": 3}),
        ({}, {"max_new_tokens": 24}),  # wider than 20: padded to max_new_tokens + 1
        ({}, {"max_length": 24}),  # wider than 20 and not padded: the loop pads with -100
        ({"label_smoothing_factor": 0.1}, {}),  # the loss goes through the label smoother
    ],
)
def test_predict_matches_transformers(
    make_t5: Callable[[], Any],
    tmp_path: Path,
    examples: Any,
    args: dict[str, Any],
    call: dict[str, Any],
) -> None:
    ours, ref = _both(make_t5, tmp_path, {"predict_with_generate": True, **args})
    expected = ref.predict(examples, **call)
    result = ours.predict(examples, **call)
    _assert_same_prediction(result, expected)


def test_predictions_are_varied_generated_ids_padded_with_pad(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any
) -> None:
    # Guards the other comparisons: they compare real generations, not constant output.
    ours, _ = _both(make_t5, tmp_path, {"predict_with_generate": True})
    result = ours.predict(examples)
    assert result.predictions.shape == (10, 20)
    assert (result.predictions[:, 0] == 0).all()
    assert len({tuple(row) for row in result.predictions.tolist()}) > 5
    # Labels (7 wide) are padded to 20 with the pad id, not with -100.
    assert result.label_ids.shape == (10, 20)
    assert (result.label_ids[:, 7:] == 0).all()


def test_evaluate_overrides_match_transformers(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any
) -> None:
    ours, ref = _both(
        make_t5, tmp_path, {"predict_with_generate": True, "generation_max_length": 6}
    )
    for call in ({}, {"max_length": 4}, {"num_beams": 2, "max_new_tokens": 22}, {"max_length": 23}):
        _assert_same_metrics(ours.evaluate(examples, **call), ref.evaluate(examples, **call))
    widths = [preds.shape[1] for preds, _ in ours.compute_metrics.calls]
    # Narrower than the config's max_length (20): padded to it; wider: left as generated.
    assert widths == [preds.shape[1] for preds, _ in ref.compute_metrics.calls]
    assert widths[:3] == [20, 20, 20] and widths[3] > 20
    for (ours_preds, ours_labels), (ref_preds, ref_labels) in zip(
        ours.compute_metrics.calls, ref.compute_metrics.calls
    ):
        np.testing.assert_array_equal(ours_preds, ref_preds)
        np.testing.assert_array_equal(ours_labels, ref_labels)
    # The per-call limits changed what was generated: max_length=4 leaves 3 new tokens at most.
    assert (ours.compute_metrics.calls[1][0][:, 4:] == 0).all()
    assert not (ours.compute_metrics.calls[0][0][:, 4:6] == 0).all()


def test_without_generate_predictions_are_the_forward_outputs(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any
) -> None:
    ours, ref = _both(make_t5, tmp_path, {"predict_with_generate": False})
    result, expected = ours.predict(examples), ref.predict(examples)
    assert isinstance(result.predictions, tuple)
    assert len(result.predictions) == len(expected.predictions)
    for got, want in zip(result.predictions, expected.predictions):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    _assert_same_metrics(result.metrics, expected.metrics)


def test_pad_id_comes_from_the_processing_class(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any
) -> None:
    class Tokenizer:  # pad_token_id None: its eos id pads instead
        pad_token_id = None
        eos_token_id = 1

    collate = torch.utils.data.default_collate
    ours, ref = _both(
        make_t5,
        tmp_path,
        {"predict_with_generate": True},
        processing_class=Tokenizer(),
        data_collator=collate,
    )
    result, expected = ours.predict(examples), ref.predict(examples)
    _assert_same_prediction(result, expected)
    assert (result.label_ids[:, -1] == 1).all()


def _gen_config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "gen"
    transformers.GenerationConfig(
        max_length=9, num_beams=2, decoder_start_token_id=0, eos_token_id=1, pad_token_id=0
    ).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("form", ["object", "folder", "file"])
def test_generation_config_argument_matches_transformers(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any, form: str
) -> None:
    folder = _gen_config_dir(tmp_path)
    value: Any = {
        "object": transformers.GenerationConfig.from_pretrained(folder),
        "folder": str(folder),
        "file": str(folder / "generation_config.json"),
    }[form]
    ours, ref = _both(
        make_t5, tmp_path, {"predict_with_generate": True, "generation_config": value}
    )
    # A transformers model keeps a transformers GenerationConfig, loaded from the same values.
    assert type(ours.model.generation_config) is type(ref.model.generation_config)
    assert ours.model.generation_config.to_dict() == ref.model.generation_config.to_dict()
    if form == "object":
        assert ours.model.generation_config is not value  # a copy, as transformers
    result, expected = ours.predict(examples), ref.predict(examples)
    _assert_same_prediction(result, expected)
    assert result.predictions.shape[1] == 9


def test_generation_config_as_a_dict(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any
) -> None:
    # transformers only takes objects and paths; a dict is read like the JSON file would be.
    folder = _gen_config_dir(tmp_path)
    data = json.loads((folder / "generation_config.json").read_text())
    _, ref = _both(make_t5, tmp_path, {"predict_with_generate": True})
    ours_dict = Seq2SeqTrainer(
        model=make_t5(),
        args=_args(_Ours, tmp_path / "dict", predict_with_generate=True, generation_config=data),
    )
    expected = ref.predict(examples, max_length=9, num_beams=2)
    result = ours_dict.predict(examples)
    np.testing.assert_array_equal(result.predictions[:, :9], expected.predictions[:, :9])
    assert result.predictions.shape == (10, 9)


def test_call_kwargs_win_over_the_generation_config_argument(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any
) -> None:
    args = {"predict_with_generate": True, "generation_config": str(_gen_config_dir(tmp_path))}
    ours, ref = _both(make_t5, tmp_path, args)
    call = {"max_length": 4, "num_beams": 1}
    _assert_same_prediction(ours.predict(examples, **call), ref.predict(examples, **call))


def test_invalid_generation_config_fails_at_init(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any
) -> None:
    bad = transformers.GenerationConfig(num_beams=1, length_penalty=2.0)
    with pytest.raises(ValueError, match="length_penalty"):
        transformers.Seq2SeqTrainer(
            model=make_t5(), args=_args(transformers, tmp_path, generation_config=bad)
        )
    with pytest.raises(ValueError, match=r"length_penalty(.|\n)*Fix these issues"):
        Seq2SeqTrainer(model=make_t5(), args=_args(_Ours, tmp_path, generation_config=bad))


def test_a_transformers_generation_config_drives_the_reference_model(tmp_path: Path) -> None:
    config = transformers.GenerationConfig(max_length=6, num_beams=2, pad_token_id=0)
    model = TinySeq2Seq(TinySeq2SeqConfig(vocab_size=24))
    trainer = Seq2SeqTrainer(
        model=model,
        args=_args(_Ours, tmp_path, predict_with_generate=True, generation_config=config),
    )
    assert isinstance(model.generation_config, transformers.GenerationConfig)
    unlabelled = [
        {"input_ids": torch.arange(2, 8), "attention_mask": torch.ones(6, dtype=torch.long)}
    ]
    assert trainer.predict(unlabelled).predictions.shape == (1, 6)
    assert trainer.predict(unlabelled, max_length=3).predictions.shape == (1, 6)  # padded to 6


def test_decoder_inputs_made_from_the_labels_are_not_continued(
    make_t5: Callable[[], Any], tmp_path: Path, examples: Any
) -> None:
    with_decoder_inputs = []
    for example in examples:
        shifted = torch.cat([torch.tensor([0]), example["labels"][:-1]]).clamp(min=0)
        with_decoder_inputs.append({**example, "decoder_input_ids": shifted})
    ours, ref = _both(make_t5, tmp_path, {"predict_with_generate": True})
    result = ours.predict(with_decoder_inputs)
    _assert_same_prediction(result, ref.predict(with_decoder_inputs))
    plain, _ = _both(make_t5, tmp_path / "plain", {"predict_with_generate": True})
    np.testing.assert_array_equal(result.predictions, plain.predict(examples).predictions)


def test_decoder_only_predictions_keep_the_prompt(tmp_path: Path, examples: Any) -> None:
    # transformers' Seq2SeqTrainer does not strip the prompt of decoder-only models: same here.
    config = transformers.GPT2Config(
        vocab_size=24, n_positions=32, n_embd=32, n_layer=1, n_head=2,
        pad_token_id=0, eos_token_id=1, bos_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    prompts = [
        {"input_ids": ex["input_ids"], "attention_mask": ex["attention_mask"]} for ex in examples
    ]
    ours = Seq2SeqTrainer(
        model=copy.deepcopy(model), args=_args(_Ours, tmp_path / "o", predict_with_generate=True)
    )
    ref = transformers.Seq2SeqTrainer(
        model=copy.deepcopy(model),
        args=_args(transformers, tmp_path / "r", predict_with_generate=True),
    )
    result, expected = ours.predict(prompts), ref.predict(prompts)
    np.testing.assert_array_equal(result.predictions, expected.predictions)
    np.testing.assert_array_equal(
        result.predictions[:, :6], np.stack([p["input_ids"] for p in prompts])
    )
