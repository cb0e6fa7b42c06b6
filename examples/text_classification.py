"""Text classification, as in the transformers fine-tuning tutorial, with `trainer` swapped in.

The code below is the tutorial's (tokenize → DataCollatorWithPadding → compute_metrics →
Trainer → train → evaluate → save_model); only the import of `Trainer`, `TrainingArguments`
and `set_seed` differs. So that it runs offline and in seconds, the tokenizer is trained on
the data, the model is a tiny BERT built from a config, and the reviews are made up.

    python examples/text_classification.py               # with trainer
    python examples/text_classification.py --reference   # the same script with transformers

It prints the train and eval metrics as one JSON line starting with `RESULT `.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys

import numpy as np
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    DataCollatorWithPadding,
    PreTrainedTokenizerFast,
)

REFERENCE = "--reference" in sys.argv
if REFERENCE:
    from transformers import Trainer, TrainingArguments, set_seed
else:
    from trainer import Trainer, TrainingArguments, set_seed  # the one line that changed

POSITIVE = ["great", "wonderful", "moving", "funny", "brilliant", "charming", "clever"]
NEGATIVE = ["boring", "awful", "dull", "silly", "painful", "clumsy", "tedious"]
SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the ending", "the music"]
TEMPLATES = ["{s} was {a}", "{s} is really {a}", "i found {s} {a}", "honestly {s} felt {a} to me"]


def make_reviews(n: int, seed: int) -> dict[str, list]:
    """Made-up movie reviews: a subject, a template and a positive or negative adjective."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randint(0, 1)
        adjective = rng.choice(POSITIVE if label else NEGATIVE)
        template = rng.choice(TEMPLATES)
        texts.append(template.format(s=rng.choice(SUBJECTS), a=adjective))
        labels.append(label)
    return {"text": texts, "label": labels}


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained on the reviews (the tutorial downloads one instead)."""
    backend = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials))
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[
            ("[CLS]", backend.token_to_id("[CLS]")),
            ("[SEP]", backend.token_to_id("[SEP]")),
        ],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=32,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="use transformers' Trainer")
    parser.add_argument("--output_dir", default="my_awesome_model")
    cli = parser.parse_args()

    # --- the tutorial ----------------------------------------------------------------------------
    set_seed(42)
    reviews = Dataset.from_dict(make_reviews(48, seed=0)).train_test_split(test_size=0.25, seed=0)
    tokenizer = train_tokenizer(reviews["train"]["text"])

    def preprocess_function(examples):
        return tokenizer(examples["text"], truncation=True)

    tokenized_reviews = reviews.map(preprocess_function, batched=True)
    data_collator = DataCollatorWithPadding(tokenizer=tokenizer)

    def compute_metrics(eval_pred):
        predictions, labels = eval_pred
        predictions = np.argmax(predictions, axis=1)
        return {"accuracy": float((predictions == labels).mean())}

    id2label = {0: "NEGATIVE", 1: "POSITIVE"}
    label2id = {"NEGATIVE": 0, "POSITIVE": 1}
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32, pad_token_id=tokenizer.pad_token_id,
        num_labels=2, id2label=id2label, label2id=label2id,
    )  # fmt: skip
    model = AutoModelForSequenceClassification.from_config(config)

    training_args = TrainingArguments(
        output_dir=cli.output_dir,
        learning_rate=2e-3,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        num_train_epochs=3,
        weight_decay=0.01,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        report_to="none",
        use_cpu=True,
    )

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized_reviews["train"],
        eval_dataset=tokenized_reviews["test"],
        processing_class=tokenizer,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
    )

    train_result = trainer.train()
    metrics = trainer.evaluate()
    trainer.save_model()
    # ---------------------------------------------------------------------------------------------

    speed = ("_runtime", "_per_second", "_preparation_time")
    result = {
        "train_loss": train_result.training_loss,
        "global_step": train_result.global_step,
        "eval": {k: v for k, v in metrics.items() if not k.endswith(speed)},
        "eval_losses": [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e],
        "best_checkpoint": os.path.basename(trainer.state.best_model_checkpoint or ""),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
