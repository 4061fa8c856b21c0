"""The lessons: one module per slide of the lecture.

Each module in this package defines one ``Lesson`` subclass and names it
``LESSON``. They are found by scanning the package, so adding a lesson is
adding a file. From Python::

    >>> import tinycv.lessons
    >>> lesson = tinycv.lessons.load("perceptron", fast=True)
    >>> for step in lesson.steps():     # step through, as the CLI shows it
    ...     pass
    >>> lesson.check().passed
    True
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil


class UnknownLesson(KeyError):
    """A lesson name that does not exist; the message suggests close names."""

    def __str__(self) -> str:
        return self.args[0]


def _discover() -> dict:
    found = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        lesson = importlib.import_module(f"{__name__}.{module.name}").LESSON
        found[lesson.name] = lesson
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


_registry: dict | None = None


def available() -> dict:
    """Every lesson class by name, in the order of the lecture."""
    global _registry
    if _registry is None:
        _registry = _discover()
    return _registry


def get(name: str):
    """The lesson class called ``name``, or UnknownLesson with suggestions."""
    lessons = available()
    if name in lessons:
        return lessons[name]
    close = difflib.get_close_matches(name, list(lessons), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UnknownLesson(
        f"no lesson called {name!r}{hint} (`tinycv lessons` lists them all)"
    )


def load(name: str, seed: int = 0, fast: bool = False, console=None, **options):
    """A ready-to-run lesson: call ``.steps()`` to step, ``.run()`` to finish."""
    return get(name)(seed=seed, fast=fast, console=console, **options)
