"""fsdp / fsdp_config → FullyShardedDataParallelPlugin kwargs, compared with transformers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from trainer_dist.fsdp import fsdp_enabled, fsdp_plugin_kwargs


def _ns(fsdp: Any, config: Any = None) -> SimpleNamespace:
    return SimpleNamespace(fsdp=fsdp, fsdp_config=config)


def test_legacy_string_matches_the_verified_reference() -> None:
    assert fsdp_plugin_kwargs(_ns("full_shard offload auto_wrap")) == {
        "fsdp_version": 2,
        "cpu_offload": True,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "cpu_ram_efficient_loading": False,
        "state_dict_type": "FULL_STATE_DICT",
        "reshard_after_forward": True,
    }


@pytest.mark.reference
@pytest.mark.parametrize(
    ("fsdp", "config"),
    [
        ("full_shard offload auto_wrap", None),
        (["shard_grad_op"], {"fsdp_transformer_layer_cls_to_wrap": "Block"}),
        (
            True,
            {
                "auto_wrap_policy": "SIZE_BASED_WRAP",
                "min_num_params": 100,
                "activation_checkpointing": True,
            },
        ),
        (True, {"version": 1, "backward_prefetch": "backward_pre", "limit_all_gathers": "true"}),
        ("hybrid_shard", {"version": 1}),
    ],
)
def test_same_plugin_kwargs_as_transformers(fsdp: Any, config: Any, tmp_path: Any) -> None:
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    from transformers import TrainingArguments

    reference = TrainingArguments(
        str(tmp_path), fsdp=fsdp, fsdp_config=dict(config or {}), report_to=[], use_cpu=True
    )
    assert fsdp_plugin_kwargs(_ns(fsdp, dict(config or {}))) == reference.fsdp_plugin_args


@pytest.mark.parametrize("bad", ["hybrid_shard", "no_shard", "sideways"])
def test_invalid_options_raise(bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        fsdp_plugin_kwargs(_ns(bad))


def test_unknown_wrap_policy_raises() -> None:
    with pytest.raises(ValueError, match="auto_wrap_policy"):
        fsdp_plugin_kwargs(_ns(True, {"auto_wrap_policy": "EVERYTHING"}))


def test_off() -> None:
    assert not fsdp_enabled(_ns(""))
    assert not fsdp_enabled(_ns([]))
    assert fsdp_plugin_kwargs(_ns(None)) is None
    assert fsdp_plugin_kwargs(_ns(True, {"xla": True})) is None


def test_trainer_args_precomputed_kwargs_are_used(make_args) -> None:  # type: ignore[no-untyped-def]
    args = make_args(fsdp="full_shard", fsdp_config={"min_num_params": 5})
    assert fsdp_plugin_kwargs(args) == args.fsdp_plugin_args
