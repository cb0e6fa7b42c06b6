"""Tests here train tiny models: one torch thread is fastest for them and, unlike the
default of one per core, does not slow to a crawl when other processes share the cores."""

from __future__ import annotations

from support.torch_threads import one_torch_thread_fixture

__all__ = ["one_torch_thread_fixture"]  # autouse: every test of this folder
