"""TinySeq2Seq: forward/loss conventions, generate() options, and it learns a toy task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainer.demos.tiny_seq2seq import TinySeq2Seq, TinySeq2SeqConfig, shift_tokens_right

PAD, EOS = 0, 1


def _model(seed: int = 0, **config: object) -> TinySeq2Seq:
    torch.manual_seed(seed)
    return TinySeq2Seq(TinySeq2SeqConfig(vocab_size=16, **config)).eval()  # type: ignore[arg-type]


def test_labels_are_shifted_right_behind_the_start_token() -> None:
    labels = torch.tensor([[5, 6, EOS, -100]])
    assert shift_tokens_right(labels, start_token_id=PAD, pad_token_id=PAD).tolist() == [
        [PAD, 5, 6, EOS]
    ]


def test_forward_returns_logits_and_a_loss_that_ignores_minus_100() -> None:
    model = _model()
    input_ids = torch.randint(2, 16, (3, 5))
    labels = torch.tensor([[4, 5, EOS, -100], [6, EOS, -100, -100], [7, 8, 9, EOS]])
    out = model(input_ids, labels=labels)
    assert out.logits.shape == (3, 4, 16)
    assert set(out.keys()) == {"loss", "logits"}
    # The loss over the labelled positions only, computed by hand from the same logits.
    keep = labels != -100
    expected = torch.nn.functional.cross_entropy(out.logits[keep], labels[keep])
    assert torch.allclose(out.loss, expected)
    assert "loss" not in model(input_ids, decoder_input_ids=torch.zeros((3, 2), dtype=torch.long))


def test_padding_in_the_source_is_masked() -> None:
    model = _model()
    source = torch.tensor([[5, 6, 7, PAD, PAD]])
    garbage = torch.tensor([[5, 6, 7, 9, 12]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    first = model.generate(source, attention_mask=mask, max_length=6)
    second = model.generate(garbage, attention_mask=mask, max_length=6)
    assert torch.equal(first, second)


def test_generate_shapes_start_token_and_determinism() -> None:
    model = _model()
    input_ids = torch.randint(2, 16, (4, 5))
    out = model.generate(input_ids, max_length=7)
    assert out.shape[0] == 4 and out.shape[1] <= 7
    assert (out[:, 0] == model.config.decoder_start_token_id).all()
    assert torch.equal(out, model.generate(input_ids, max_length=7))
    assert model.generate(input_ids, max_new_tokens=3).shape[1] <= 4


def test_num_beams_one_is_greedy_and_beams_keep_the_batch_shape() -> None:
    model = _model()
    input_ids = torch.randint(2, 16, (4, 5))
    greedy = model.generate(input_ids, max_length=8)
    assert torch.equal(model.generate(input_ids, max_length=8, num_beams=1), greedy)
    beams = model.generate(input_ids, max_length=8, num_beams=3)
    assert beams.shape[0] == 4 and beams.shape[1] <= 8


def test_max_new_tokens_wins_over_max_length() -> None:
    model = _model()
    model.generation_config.eos_token_id = None  # never stop early: widths are exact
    input_ids = torch.randint(2, 16, (2, 5))
    assert model.generate(input_ids, max_length=9).shape == (2, 9)
    assert model.generate(input_ids, max_length=9, max_new_tokens=3).shape == (2, 4)
    model.generation_config.max_length = 6
    assert model.generate(input_ids).shape == (2, 6)


def test_rows_that_emit_eos_are_padded() -> None:
    model = _model()
    with torch.no_grad():  # make eos overwhelmingly likely after the first generated token
        model.embed.weight[EOS] *= 0
        model.embed.weight[EOS] += model.embed.weight[5] * 40
    out = model.generate(torch.randint(2, 16, (3, 5)), max_length=8)
    assert any(EOS in row for row in out.tolist())
    for row in out.tolist():
        if EOS in row:
            assert all(token == PAD for token in row[row.index(EOS) + 1 :])


def test_unsupported_generate_kwargs_are_refused() -> None:
    with pytest.raises(TypeError, match="do_sample"):
        _model().generate(torch.randint(2, 16, (1, 3)), do_sample=True)


def _reversal_batch(generator: torch.Generator, n: int = 32) -> dict[str, torch.Tensor]:
    lengths = torch.randint(2, 6, (n,), generator=generator)
    input_ids = torch.randint(2, 12, (n, 5), generator=generator)
    input_ids[torch.arange(5)[None] >= lengths[:, None]] = PAD
    labels = torch.full((n, 6), -100)
    for i, length in enumerate(lengths.tolist()):
        labels[i, :length] = input_ids[i, :length].flip(0)
        labels[i, length] = EOS
    return {"input_ids": input_ids, "attention_mask": (input_ids != PAD).long(), "labels": labels}


@pytest.mark.slow
def test_learns_to_reverse_strings() -> None:
    torch.manual_seed(0)
    model = TinySeq2Seq(TinySeq2SeqConfig(vocab_size=12, d_model=64, dim_feedforward=128))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        loss = model(**_reversal_batch(generator)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    test = _reversal_batch(torch.Generator().manual_seed(123), n=64)
    generated = model.generate(test["input_ids"], test["attention_mask"], max_length=7)[:, 1:]
    expected = test["labels"].masked_fill(test["labels"] == -100, PAD)
    exact = (generated == expected[:, : generated.shape[1]]).all(dim=1).float().mean()
    assert exact >= 0.9


def test_save_pretrained_round_trip(tmp_path: Path) -> None:
    model = _model(num_heads=2)
    model.generation_config.max_length = 7
    model.generation_config.num_beams = 2
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "model.safetensors",
        "config.json",
        "generation_config.json",
    }
    loaded = TinySeq2Seq.from_pretrained(tmp_path).eval()
    assert loaded.config == model.config
    assert loaded.generation_config == model.generation_config
    input_ids = torch.randint(2, 16, (3, 5))
    assert torch.equal(loaded.generate(input_ids), model.generate(input_ids))
