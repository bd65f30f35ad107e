"""The options habit commands share, with the metavars and defaults their help shows.

`add` states each default; `edit` takes the same options without one (what is not given is
left as it is). Counts are read as text and checked by the validation layer, so `--duration
abc` and `--duration 0` are the same invalid input (exit 3) naming the same field.
"""

from __future__ import annotations

from typing import Annotated

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
HabitId = Annotated[str, typer.Argument(metavar="ID", help="The habit's id (`habitctl list`).")]
At = Annotated[
    str | None, typer.Option("--at", metavar="HH:MM", help="Local time, 24-hour: 07:30.")
]
Place = Annotated[str | None, typer.Option("--place", metavar="PLACE", help="Where you do it.")]
Reward = Annotated[
    str | None, typer.Option("--reward", metavar="TEXT", help="Your reward right afterwards.")
]
Linked = Annotated[
    str | None,
    typer.Option("--linked", metavar="ID", help="A pleasant habit of yours to do right after."),
]
Date = Annotated[
    str | None,
    typer.Option("--date", metavar="YYYY-MM-DD", help="Your local day.  [default: today]"),
]


EVERY = "Every N days, 1 to 7."
DURATION = "Seconds it takes, 1 to 120."
PLEASANT = "A pleasant habit is a reward in itself; a useful one needs one."
PUBLIC = "Whether everyone may see it (`habitctl public`)."

Every = Annotated[str | None, typer.Option("--every", metavar="N", help=f"{EVERY}  [default: 1]")]
Duration = Annotated[
    str | None, typer.Option("--duration", metavar="S", help=f"{DURATION}  [default: 120]")
]
Pleasant = Annotated[
    bool | None,
    typer.Option("--pleasant/--useful", help=f"{PLEASANT}  [default: useful]", show_default=False),
]
Public = Annotated[
    bool | None,
    typer.Option("--public/--private", help=f"{PUBLIC}  [default: private]", show_default=False),
]
EditEvery = Annotated[str | None, typer.Option("--every", metavar="N", help=EVERY)]
EditDuration = Annotated[str | None, typer.Option("--duration", metavar="S", help=DURATION)]
EditPleasant = Annotated[bool | None, typer.Option("--pleasant/--useful", help=PLEASANT)]
EditPublic = Annotated[bool | None, typer.Option("--public/--private", help=PUBLIC)]
