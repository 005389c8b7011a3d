"""CLI of the annotation side: accounts (`annotators list|disable|enable|remove`), gold items (`gold add|list|
remove`) and double annotation per round (`round labels-needed`). Registered on webrecall.cli.main's command groups."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from webrecall.cli.base import JsonOpt, _emit, _ready, _reasons, annotators_app, app, round_app
from webrecall.core import db as dbm

gold_app = typer.Typer(help="Gold items: domains with known answers mixed into the queue.", no_args_is_help=True)
app.add_typer(gold_app, name="gold")


@annotators_app.command("list")
def annotators_list(as_json: JsonOpt = False) -> None:
    """Every account, its role and whether it may log in."""
    from webrecall.core.labelling.accounts import accounts

    with dbm.session(_ready().db_url) as db:
        rows: list[dict[str, Any]] = [{"name": a.name, "role": a.role, "active": a.active, "created": a.created_at}
                                      for a in accounts(db)]  # fmt: skip
    table = Table("name", "role", "active", "created", title=f"{len(rows)} annotator accounts")
    for r in rows:
        active = "yes" if r["active"] else "no (disabled)"
        table.add_row(str(r["name"]), str(r["role"]), active, f"{r['created']:%Y-%m-%d}")
    _emit(rows, as_json, table)


def _set_active(name: str, active: bool, as_json: bool) -> None:
    from webrecall.core.labelling.accounts import set_active

    with _reasons(), dbm.session(_ready().db_url) as db:
        account = set_active(db, name, active)
    _emit({"name": account.name, "active": account.active, "status": "enabled" if active else "disabled"}, as_json,
          title="annotator account")


@annotators_app.command("disable")
def annotators_disable(name: Annotated[str, typer.Argument(help="Login name")], as_json: JsonOpt = False) -> None:
    """Stop an account from logging in (its labels stay; `enable` undoes it)."""
    _set_active(name, False, as_json)


@annotators_app.command("enable")
def annotators_enable(name: Annotated[str, typer.Argument(help="Login name")], as_json: JsonOpt = False) -> None:
    """Let a disabled account log in again."""
    _set_active(name, True, as_json)


@annotators_app.command("remove")
def annotators_remove(name: Annotated[str, typer.Argument(help="Login name")], as_json: JsonOpt = False) -> None:
    """Delete an account (its labels stay in the history under its name; its claimed domain goes back)."""
    from webrecall.core.labelling.accounts import remove_account

    with _reasons(), dbm.session(_ready().db_url) as db:
        remove_account(db, name)
    _emit({"name": name, "status": "removed"}, as_json, title="annotator account")


def _round_id(db: dbm.Session, number: int) -> int:
    from webrecall.core.queries import find_round

    rnd = find_round(db, number)
    if rnd is None:
        raise ValueError(f"no round {number}")
    return rnd.id or 0


@round_app.command("labels-needed")
def round_labels_needed(
    number: Annotated[int, typer.Argument(help="Round number")],
    labels_needed: Annotated[int, typer.Argument(min=1, max=10, help="Annotators per domain (2: double annotation)")],
    as_json: JsonOpt = False,
) -> None:
    """Switch double annotation for a round: every queued domain of it (and any it queues later) needs this many
    annotators; a finished domain that now needs more goes back to the queue."""
    from webrecall.core.labelling.queue import set_labels_needed

    with _reasons(), dbm.session(_ready().db_url) as db:
        out = set_labels_needed(db, _round_id(db, number), labels_needed)
    _emit({"round": number, "labels_needed": labels_needed, **out}, as_json, title=f"round {number} queue")


def _answers(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        pattern, sep, label = value.rpartition("=")
        if not sep or not pattern:
            raise ValueError(f"--answer {value!r}: use PATTERN=LABEL, e.g. docs.python.org/3/=code")
        out[pattern] = label
    return out


@gold_app.command("add")
def gold_add(
    domain: Annotated[str, typer.Argument(help="The domain (host) annotators will see")],
    answer: Annotated[list[str], typer.Option(help="PATTERN=LABEL (repeatable), e.g. docs.python.org/=code")],
    round_no: Annotated[int, typer.Option("--round", help="Round whose queue gets the item")],
    priority: Annotated[float, typer.Option(help="Queue priority (higher: seen earlier)")] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Mix a domain with known answers into a round's queue; every annotator labels it (Review > Gold set)."""
    from webrecall.core.labelling.review import add_gold

    with _reasons(), dbm.session(_ready().db_url) as db:
        added = add_gold(db, _round_id(db, round_no), domain, _answers(answer), priority=priority)
        if not added:
            raise ValueError(f"{domain} is already queued in round {round_no}")
    _emit({"domain": domain.lower(), "round": round_no, "status": "added"}, as_json, title="gold item")


@gold_app.command("list")
def gold_list(as_json: JsonOpt = False) -> None:
    """The gold items in use, their answers, and how often each annotator matches them."""
    from webrecall.core.labelling.item_view import round_number
    from webrecall.core.labelling.review import gold_accuracy, gold_items

    with dbm.session(_ready().db_url) as db:
        rows = [{"id": i.id, "round": round_number(db, i.round_id), "domain": i.domain, "answers": i.details["gold"],
                 "labeled_by": i.labeled_by} for i in gold_items(db)]  # fmt: skip
        accuracy = gold_accuracy(db)
    table = Table("id", "round", "domain", "answers", "labelled by", title=f"{len(rows)} gold items")
    for r in rows:
        table.add_row(str(r["id"]), str(r["round"]), r["domain"], ", ".join(f"{p} = {v}" for p, v in
                      r["answers"].items()), ", ".join(r["labeled_by"]) or "nobody yet")  # fmt: skip
    _emit({"items": rows, "accuracy": accuracy}, as_json, table)


@gold_app.command("remove")
def gold_remove(
    item_id: Annotated[int, typer.Argument(help="Gold item id (`gold list`)")], as_json: JsonOpt = False
) -> None:
    """Take a gold item out of the queue (the accuracy measured on it so far stays)."""
    from webrecall.core.labelling.review import remove_gold

    with _reasons(), dbm.session(_ready().db_url) as db:
        item = remove_gold(db, item_id)
    _emit({"id": item.id, "domain": item.domain, "status": "removed"}, as_json, title="gold item")
