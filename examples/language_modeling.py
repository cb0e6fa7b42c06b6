"""Causal language modeling, as in the transformers tutorial, with `trainer` swapped in.

The tutorial's steps (tokenize → concatenate and chunk into blocks with `group_texts` →
DataCollatorForLanguageModeling(mlm=False) → Trainer → train → evaluate → perplexity →
save_model), with only the import of `Trainer`, `TrainingArguments` and `set_seed` changed.
Offline and small: the tokenizer is trained on a made-up corpus and the GPT-2 is tiny.

    python examples/language_modeling.py               # with trainer
    python examples/language_modeling.py --reference   # the same script with transformers

It prints the metrics as one JSON line starting with `RESULT `.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from itertools import chain

from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    DataCollatorForLanguageModeling,
    GPT2Config,
    PreTrainedTokenizerFast,
)

if "--reference" in sys.argv:
    from transformers import Trainer, TrainingArguments, set_seed
else:
    from trainer import Trainer, TrainingArguments, set_seed  # the one line that changed

SUBJECTS = ["the cat", "a dog", "my friend", "the teacher", "our neighbour"]
VERBS = ["sees", "likes", "follows", "calls", "helps"]
OBJECTS = ["the bird", "a child", "the farmer", "my sister", "the baker"]


def make_corpus(n: int, seed: int) -> dict[str, list[str]]:
    """Made-up sentences with a simple grammar, a few per line, so there is something to learn."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        sentences = [
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} ."
            for _ in range(rng.randint(1, 3))
        ]
        lines.append(" ".join(sentences))
    return {"text": lines}


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.WordLevel(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["<eos>", "<unk>"]))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<eos>", unk_token="<unk>", pad_token="<eos>"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="use transformers' Trainer")
    parser.add_argument("--output_dir", default="my_awesome_lm")
    cli = parser.parse_args()

    # --- the tutorial ----------------------------------------------------------------------------
    set_seed(42)
    corpus = Dataset.from_dict(make_corpus(60, seed=0)).train_test_split(test_size=0.2, seed=0)
    tokenizer = train_tokenizer(corpus["train"]["text"])

    def preprocess_function(examples):
        return tokenizer([" ".join([x, tokenizer.eos_token]) for x in examples["text"]])

    tokenized = corpus.map(preprocess_function, batched=True, remove_columns=["text"])
    block_size = 16

    def group_texts(examples):
        concatenated = {k: list(chain(*examples[k])) for k in examples}
        total_length = len(concatenated[next(iter(examples))])
        total_length = (total_length // block_size) * block_size
        result = {
            k: [t[i : i + block_size] for i in range(0, total_length, block_size)]
            for k, t in concatenated.items()
        }
        result["labels"] = result["input_ids"].copy()
        return result

    lm_dataset = tokenized.map(group_texts, batched=True)
    data_collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)

    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=block_size, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_config(config)

    training_args = TrainingArguments(
        output_dir=cli.output_dir,
        eval_strategy="epoch",
        learning_rate=5e-3,
        weight_decay=0.01,
        num_train_epochs=3,
        per_device_train_batch_size=8,
        logging_steps=5,
        report_to="none",
        use_cpu=True,
    )

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=lm_dataset["train"],
        eval_dataset=lm_dataset["test"],
        data_collator=data_collator,
        processing_class=tokenizer,
    )

    trainer.train()
    eval_results = trainer.evaluate()
    print(f"Perplexity: {math.exp(eval_results['eval_loss']):.2f}")
    trainer.save_model()
    # ---------------------------------------------------------------------------------------------

    history = trainer.state.log_history
    result = {
        "perplexity": math.exp(eval_results["eval_loss"]),
        "global_step": trainer.state.global_step,
        "losses": [entry["loss"] for entry in history if "loss" in entry],
        "eval_losses": [entry["eval_loss"] for entry in history if "eval_loss" in entry],
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
