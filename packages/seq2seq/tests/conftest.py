"""Tiny models run fastest on one thread (and do not fight the other tests for the cores)."""

from __future__ import annotations

from support.torch_threads import one_torch_thread_fixture

__all__ = ["one_torch_thread_fixture"]  # autouse: every test of this folder
