"""Building blocks of checkpointing; `trainer_loop.checkpointing` is the public face."""
