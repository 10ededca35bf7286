"""How a step's (or a sensor tick's) process treats the objects it already holds when it starts."""

from __future__ import annotations

import functools
import gc
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def _held_objects_frozen() -> Iterator[None]:
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def objects_held_before_frozen(step: Callable[P, R]) -> Callable[P, R]:
    """Runs `step` (an asset's compute function, or a sensor's evaluation) with every object alive
    when it starts out of the cyclic collector's sight, and gives them back to it when the step ends
    (a generator step: when its last event is taken). A full collection otherwise walks all of them
    again (README, Benchmark)."""

    if inspect.isgeneratorfunction(step):

        @functools.wraps(step)
        def run_generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with _held_objects_frozen():
                yield from cast(Iterator[Any], step(*args, **kwargs))

        return cast(Callable[P, R], run_generator)

    @functools.wraps(step)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with _held_objects_frozen():
            return step(*args, **kwargs)

    return run
