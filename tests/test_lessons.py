"""Every lesson's claim holds in --fast mode, for several seeds.

The lessons are discovered, so a new lesson is tested as soon as it exists.
"""

import pytest

from tinycv import lessons
from tinycv.lesson import Step, Verdict

SEEDS = (0, 1, 7)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(lessons.available()))
def test_claim_holds_in_fast_mode(name, seed):
    lesson = lessons.load(name, seed=seed, fast=True)
    states = list(lesson.steps())
    assert states and all(isinstance(s, Step) for s in states)
    verdict = lesson.check()
    assert isinstance(verdict, Verdict)
    assert verdict.passed, f"{name} seed {seed}: {verdict.measured}"


@pytest.mark.parametrize("name", list(lessons.available()))
def test_lesson_metadata_and_run(name):
    cls = lessons.get(name)
    assert cls.slide and cls.summary and cls.claim
    outcome = lessons.load(name, seed=2, fast=True).run()
    assert outcome.verdict.passed and outcome.result


def test_unknown_lesson_and_option():
    with pytest.raises(lessons.UnknownLesson, match="did you mean perceptron"):
        lessons.load("perceptorn")
    with pytest.raises(TypeError, match="unknown option"):
        lessons.load("perceptron", epoch=3)
