"""The Hugging Face Hub methods: pushing is refused (no network); the model card is written locally."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

__all__ = ["HubMixin"]


def _hub_unsupported(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{what}: pushing to the Hugging Face Hub is not supported by this Trainer. Train with "
        "`push_to_hub=False`, save with `trainer.save_model(dir)` and upload the folder with "
        "`huggingface_hub.upload_folder` (it holds safetensors weights and JSON files only)."
    )


class HubMixin(TrainerAttributes):
    """`push_to_hub` and `init_hf_repo` (refused), `create_model_card` (a local README.md)."""

    def init_hf_repo(self: Trainer, token: str | None = None, private: bool | None = None) -> None:
        """Not supported: this Trainer does not push to the Hugging Face Hub."""
        raise _hub_unsupported("push_to_hub=True")

    def push_to_hub(
        self, commit_message: str | None = "End of training", blocking: bool = True, **kwargs: Any
    ) -> Any:
        """Not supported: save with `save_model()` and upload with `huggingface_hub` yourself."""
        raise _hub_unsupported("Trainer.push_to_hub()")

    def create_model_card(
        self: Trainer,
        language: str | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
    ) -> None:
        """Draft a model card in `output_dir/README.md`, as transformers does, without the network.

        It names the model, what it was fine-tuned from and on, the last evaluation results,
        the hyperparameters, every evaluation during training and the framework versions. The
        base model, the task and the dataset are inferred from the model and the data unless
        given. An existing card's tags are kept when `tags` is given; a PEFT card is updated by
        the PEFT model too. Only the world's main process writes.
        """
        if not self.is_world_process_zero():
            return
        from pathlib import Path

        from trainer_loop.model_card import (
            MODEL_CARD_NAME,
            ModelCard,
            merged_tags,
            write_model_card,
        )

        tags, library = merged_tags(Path(self.args.output_dir) / MODEL_CARD_NAME, tags)
        card = ModelCard.from_run(
            args=self.args,
            model=self.model,
            dataset_object=self.eval_dataset
            if self.eval_dataset is not None
            else self.train_dataset,
            log_history=self.state.log_history,
            language=language,
            license=license,
            tags=tags,
            model_name=model_name,
            finetuned_from=finetuned_from,
            tasks=tasks,
            dataset_tags=dataset_tags,
            dataset=dataset,
            dataset_args=dataset_args,
        )
        write_model_card(self.args.output_dir, card)
        if library == "peft":
            self.accelerator.unwrap_model(self.model).create_or_update_model_card(
                self.args.output_dir
            )
