"""The ``tinycv`` command: lessons, benchmarks, model summaries and data.

Everything heavy is imported inside the commands, so ``tinycv --help`` and
``tinycv lessons`` answer at once. A user's mistake (an unknown lesson, a
bad option value) is one line on stderr and exit status 2, never a
traceback; a lesson whose claim fails exits with status 1.
"""

from __future__ import annotations

import sys

import click

import tinycv

COMMON_OPTIONS = ("seed", "fast", "step", "save_fig")


def _comma_list(kind):
    """A click callback that accepts ``--x 1 --x 3`` and ``--x 1,3``."""

    def convert(ctx, param, values):
        items = []
        for value in values:
            for part in str(value).split(","):
                if part.strip():
                    try:
                        items.append(kind(part))
                    except ValueError:
                        raise click.BadParameter(
                            f"{part!r} is not a valid {kind.__name__}"
                        ) from None
        return tuple(items)

    return convert


def _lesson_command(lesson_class) -> click.Command:
    """A click command for one lesson: its own options plus the common ones."""
    params = [
        click.Option(
            ["--seed"],
            type=int,
            default=0,
            show_default=True,
            help="Random seed; the claim holds for any seed.",
        ),
        click.Option(
            ["--fast"],
            is_flag=True,
            help="A small setting that finishes in a few seconds.",
        ),
        click.Option(
            ["--step"],
            is_flag=True,
            help="Pause after each step until Enter is pressed.",
        ),
        click.Option(
            ["--save-fig"],
            type=click.Path(dir_okay=False),
            help="Save a PNG figure of the run (needs tinycv[plot]).",
        ),
    ]
    for opt in lesson_class.options:
        flag = "--" + opt.name.replace("_", "-")
        if opt.multiple:
            kind = type(opt.default[0]) if opt.default else str
            params.append(
                click.Option(
                    [flag],
                    multiple=True,
                    callback=_comma_list(kind),
                    help=f"{opt.help}  [default: {','.join(map(str, opt.default))}]",
                )
            )
        else:
            params.append(
                click.Option(
                    [flag],
                    type=opt.type or click.types.convert_type(None, opt.default),
                    default=None,
                    help=f"{opt.help}  [default: {opt.default}]",
                )
            )

    def run(**values):
        _run_lesson(lesson_class, values)

    return click.Command(
        lesson_class.name,
        params=params,
        callback=run,
        help=f"{lesson_class.slide}: {lesson_class.summary}\n\nClaim: "
        f"{lesson_class.claim}",
        short_help=lesson_class.summary,
    )


def _run_lesson(lesson_class, values: dict) -> None:
    from tinycv._console import console
    from tinycv.lesson import save_figure

    save_path = values.pop("save_fig")
    step_mode = values.pop("step")
    if save_path:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise click.UsageError(
                "--save-fig needs matplotlib: pip install 'tinycv[plot]'"
            ) from None

    try:
        lesson = lesson_class(console=console, **values)
    except (TypeError, ValueError) as error:
        raise click.UsageError(str(error)) from None

    console.rule(f"[bold]{lesson.name}[/] — {lesson.slide}")
    for state in lesson.steps():
        console.print(state)
        if step_mode:
            console.input("[dim]press Enter for the next step[/]")
    verdict = lesson.check()
    console.print(verdict)

    if save_path:
        figure = lesson.figure(plt)
        if figure is None:
            raise click.UsageError(f"lesson {lesson.name} draws no figure to save")
        save_figure(figure, save_path)
        console.print(f"[dim]figure saved to {save_path}[/]")
    sys.exit(0 if verdict.passed else 1)


class LessonGroup(click.Group):
    """``tinycv lesson NAME``: one subcommand per lesson, found on demand."""

    def list_commands(self, ctx):
        from tinycv import lessons

        return list(lessons.available())

    def get_command(self, ctx, name):
        from tinycv import lessons

        try:
            return _lesson_command(lessons.get(name))
        except lessons.UnknownLesson:
            return None

    def resolve_command(self, ctx, args):
        from tinycv import lessons

        name = args[0]
        try:
            lessons.get(name)
        except lessons.UnknownLesson as error:
            raise click.UsageError(str(error), ctx) from None
        return super().resolve_command(ctx, args)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(tinycv.__version__, prog_name="tinycv")
def main():
    """tinycv: deep learning for computer vision, one slide at a time."""


@main.command("lessons")
def list_lessons():
    """List every lesson: its name, its slide and what it shows."""
    from rich.table import Table

    from tinycv import lessons
    from tinycv._console import console

    table = Table(title="tinycv lessons", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("slide")
    table.add_column("what it shows")
    for name, lesson in lessons.available().items():
        table.add_row(name, lesson.slide, lesson.summary)
    console.print(table)
    console.print("[dim]run one with: tinycv lesson NAME [--fast] [--help][/]")


main.add_command(LessonGroup("lesson", help="Run one lesson: tinycv lesson NAME."))


@main.command("bench")
@click.argument("what", type=click.Choice(["matmul", "conv2d", "pool", "all"]))
@click.option(
    "--sizes",
    multiple=True,
    callback=_comma_list(int),
    help="Problem sizes to time (e.g. --sizes 128,512,1024).",
)
@click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="Also write the figures to this JSON file.",
)
@click.option(
    "--rounds",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="Timed rounds after warm-up; the median is reported.",
)
def bench(what, sizes, device, json_path, rounds):
    """Time tinycv's kernels against numpy, PyTorch and the reference loops."""
    from tinycv import bench as benchmarks

    sys.exit(benchmarks.main(what, list(sizes) or None, device, json_path, rounds))


@main.command("models")
def list_models():
    """List the model zoo: every name `tinycv summary` accepts."""
    from rich.table import Table

    from tinycv import models
    from tinycv._console import console

    table = Table(title="tinycv models", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("what it is")
    for name, description in models.available().items():
        table.add_row(name, description)
    console.print(table)
    console.print("[dim]count one with: tinycv summary NAME [--input-size C,H,W][/]")


@main.command("summary")
@click.argument("model")
@click.option(
    "--input-size",
    multiple=True,
    callback=_comma_list(int),
    help="Input shape without the batch, e.g. --input-size 3,224,224.",
)
@click.option(
    "--option",
    "-o",
    "model_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A model option, e.g. -o width=0.5 (repeatable).",
)
def summary(model, input_size, model_options):
    """The layer table of a model, with parameters and multiply-adds."""
    from tinycv import models

    options = {}
    for item in model_options:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE", param_hint="--option"
            )
        options[key.strip().replace("-", "_")] = _literal(value.strip())
    try:
        code = models.summary_command(model, tuple(input_size) or None, options)
    except (KeyError, ValueError, TypeError) as error:
        raise click.UsageError(str(error).strip("'\"")) from None
    sys.exit(code)


def _literal(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


@main.group("data")
def data():
    """Fetch and inspect data sets."""


@data.command("download")
@click.argument("name", type=click.Choice(["mnist", "fashion-mnist"]))
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    help="Where to put the files (default: $TINYCV_DATA or ~/.cache/tinycv).",
)
def download(name, root):
    """Download a data set's idx files, verifying their checksums."""
    from tinycv.data import mnist

    sys.exit(mnist.download(name, root))


if __name__ == "__main__":
    main()
