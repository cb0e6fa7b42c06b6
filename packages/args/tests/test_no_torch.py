"""trainer_args never imports torch (nor numpy, accelerate or transformers), whatever it is asked to do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import trainer_args
    from trainer_args import ArgumentParser, Seq2SeqTrainingArguments, TrainingArguments, json_schema
    from trainer_args.cli import main

    tmp = Path(sys.argv[1])
    args = TrainingArguments(eval_strategy="steps", fsdp="full_shard", report_to="all")
    # (train_batch_size/to_sanitized_dict ask trainer_dist for n_gpu when it is installed: not here.)
    args.to_dict(), args.to_json_string(), args.world_size, args.should_log, args.get_process_log_level()
    parser = ArgumentParser((TrainingArguments,))
    parser.parse_args_into_dataclasses(["--seed", "3", "--fp16"], look_for_args_file=False)
    (tmp / "a.json").write_text(json.dumps({"seed": 4}))
    parser.parse_json_file(tmp / "a.json")
    try:
        import yaml
    except ImportError:
        pass
    else:
        (tmp / "a.yaml").write_text("seed: 5")
        parser.parse_yaml_file(tmp / "a.yaml")
    Seq2SeqTrainingArguments.from_dict(Seq2SeqTrainingArguments().to_dict())
    json_schema(TrainingArguments)
    for argv in (["show", "--seed", "1"], ["validate", str(tmp / "a.json")], ["schema"], ["diff", str(tmp / "a.json"), str(tmp / "a.json")]):
        assert main(argv) == 0, argv
    heavy = sorted(m for m in ("torch", "numpy", "accelerate", "transformers", "trainer_dist") if m in sys.modules)
    print("HEAVY", heavy)
    """
)


def test_nothing_heavy_is_imported(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
