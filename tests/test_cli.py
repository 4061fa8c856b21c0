"""The command line: listing, running, unknown names, bad options, exit codes."""

import subprocess
import sys

from click.testing import CliRunner

import tinycv
from tinycv.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and tinycv.__version__ in result.output


def test_lessons_lists_every_lesson():
    from tinycv import lessons

    result = invoke("lessons")
    assert result.exit_code == 0
    for name in lessons.available():
        assert name in result.output


def test_unknown_lesson_suggests_and_exits_2():
    result = invoke("lesson", "perceptrn")
    assert result.exit_code == 2
    assert "perceptron" in result.output and "Traceback" not in result.output


def test_bad_option_value_exits_2():
    result = invoke("lesson", "perceptron", "--epochs", "-3")
    assert result.exit_code == 2
    assert "--epochs" in result.output and "Traceback" not in result.output
    result = invoke("lesson", "perceptron", "--epochs", "many")
    assert result.exit_code == 2


def test_lesson_runs_and_reports_pass():
    result = invoke("lesson", "perceptron", "--fast", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output


def test_failed_claim_exits_1():
    # One epoch is too few for AND to converge: the claim fails, exit 1.
    result = invoke("lesson", "perceptron", "--epochs", "1")
    assert result.exit_code == 1
    assert "FAIL" in result.output


def test_step_mode_waits_for_enter():
    result = CliRunner().invoke(
        main, ["lesson", "perceptron", "--fast", "--step"], input="\n" * 10
    )
    assert result.exit_code == 0
    assert result.output.count("press Enter") == 3


def test_save_fig_writes_png(tmp_path):
    import pytest

    pytest.importorskip("matplotlib")
    path = tmp_path / "fig.png"
    result = invoke("lesson", "perceptron", "--fast", "--save-fig", str(path))
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temp left


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "tinycv", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert tinycv.__version__ in out.stdout


def test_models_lists_the_zoo_and_summary_errors_exit_2():
    result = invoke("models")
    assert result.exit_code == 0 and "vgg16" in result.output
    result = invoke("summary", "resnet18")
    assert result.exit_code == 0 and "11,689,512" in result.output
    result = invoke("summary", "vgg99")
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = invoke("summary", "vgg16", "--input-size", "3,16,16")
    assert result.exit_code == 2 and "3×32×32" in result.output


def test_readme_lists_every_lesson():
    from pathlib import Path

    from tinycv import lessons

    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():  # an installed copy without the repository
        return
    text = readme.read_text(encoding="utf-8")
    missing = [name for name in lessons.available() if f"| `{name}` |" not in text]
    assert not missing, f"README's lesson table lacks {missing}"
