"""Building blocks of the learning-rate schedules; `trainer_loop.schedulers` is the public face."""
