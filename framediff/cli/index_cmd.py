"""``framediff index`` and ``framediff search``: an index of pictures and PDQ hash lists, and the copies of a
query in it; thin layers over :mod:`framediff.collection.searchjob`."""

from __future__ import annotations

import json
import sys

import click

from ..collection.outputs import human_bytes
from ..collection.search import QueryResult
from ..collection.searchjob import run_index, run_search, serve_search
from .app import cli
from .dupes_cmd import ProgressLine, paths_from_args
from .options import cluster_option, max_pixels_option


@cli.command("index")
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option("--db", metavar="FILE", help="The index (default: framediff/index.sqlite in the user's cache folder).")
@click.option("--remove", multiple=True, metavar="PATH", help="Forget a file, or every file under a folder (repeatable).")
@click.option("--stats", is_flag=True, help="Print what the index holds (also after any other work).")
@click.option(
    "--import-hashes", "import_list", metavar="LIST",
    help="Add a PDQ hash list: one 64-hex hash a line, optionally ,quality and ,label (- for stdin).",
)
@click.option("--export-hashes", "export_list", metavar="FILE", help="Write the index's PDQ hashes as such a list (- for stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done and the counts as JSON.")
@click.option("--jobs", default="0", show_default=True, metavar="N", help="Threads (0: every core).")
@click.option(
    "--neural", is_flag=True,
    help="Also make neural descriptors (search --neural, dupes --neural); needs pip install 'framediff[neural]'.",
)
@cluster_option
@max_pixels_option
def index_command(
    paths: tuple[str, ...], db: str | None, remove: tuple[str, ...], stats: bool, import_list: str | None,
    export_list: str | None, as_json: bool, jobs: str, neural: bool, cluster: str | None,
) -> None:
    """Add pictures (or a PDQ hash list) to an index that framediff search looks copies up in.

    \b
    The index is the one framediff dupes keeps: each picture is fingerprinted once, and a second run
    reads only new or changed files (files gone from a folder given are forgotten).

    \b
    framediff index ~/Pictures --db pictures.sqlite
    framediff index --db known.sqlite --import-hashes list.txt
    framediff index --db pictures.sqlite --stats
    framediff index /shared/photos --db photos.sqlite --cluster tcp://scheduler:8786

    Exit status: 0 done, 2 trouble.
    """
    if not (paths or remove or stats or import_list or export_list or neural):
        raise click.UsageError("give pictures to add, --remove, --import-hashes, --export-hashes, --neural or --stats")
    try:
        n_jobs = int(jobs)
    except ValueError:
        raise click.BadParameter(f"{jobs!r} is not a whole number", param_hint="--jobs") from None
    progress = ProgressLine()
    try:
        report = run_index(
            db, paths_from_args(paths), remove, import_list, export_list, n_jobs, progress, cluster, neural
        )
    finally:
        progress.close()
    out = sys.stderr if export_list == "-" else sys.stdout  # the list owns stdout when it is written there
    if report.added is not None:
        for e in report.added.errors:
            click.echo(f"unreadable: {e.text}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1), file=out)
        return
    if report.added is not None:
        a = report.added
        click.echo(f"{a.files} pictures: {a.fingerprinted} fingerprinted, {a.removed} gone, {len(a.errors)} unreadable "
                   f"({a.seconds:.1f} s)", file=out)  # fmt: skip
    if neural:
        click.echo(f"{report.described} pictures given neural descriptors", file=out)
    if remove:
        click.echo(f"{report.removed} files forgotten", file=out)
    if import_list:
        click.echo(f"{report.imported} hashes added", file=out)
    if report.exported is not None and export_list != "-":
        click.echo(f"{report.exported} hashes written to {export_list}", file=out)
    s = report.stats
    if stats or report.added is not None:
        click.echo(
            f"index {s['path']}: {s['files']} pictures, {s['unreadable']} unreadable, {s['hashes']} hashes, "
            f"{human_bytes(s['bytes'])}", file=out,
        )  # fmt: skip


def _print_result(r: QueryResult) -> None:
    if r.error:
        click.echo(f"unreadable: {r.error if r.error.startswith(r.query) else f'{r.query}: {r.error}'}", err=True)
        return
    if not r.matches:
        click.echo(f"{r.query}: no match")
        return
    click.echo(f"{r.query}: {len(r.matches)} match{'es' if len(r.matches) > 1 else ''}")
    for m in r.matches:
        name = m.path if m.path is not None else f"hash #{m.id}" + (f" {m.label}" if m.label else "")
        click.echo(f"  {name}  {m.relation}  score {m.score:.3f}: {m.describe()}")


@cli.command("search")
@click.argument("queries", nargs=-1, metavar="QUERY...")
@click.option("--db", metavar="FILE", help="The index (default: framediff/index.sqlite in the user's cache folder).")
@click.option("--top", default=10, show_default=True, metavar="K", help="The most matches listed per query.")
@click.option(
    "--max-distance", default=31, show_default=True, metavar="BITS",
    help="PDQ distance at which a hash-list entry matches (any of the 8 rotations and mirrors).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the matches as JSON on stdout.")
@click.option(
    "--neural", is_flag=True,
    help="Also take candidates from neural descriptors (heavy crops, collages, screenshots); needs "
    "pip install 'framediff[neural]'.",
)
@click.option(
    "--serve", metavar="[HOST:]PORT",
    help="Serve the search page and POST /api/search instead of searching QUERY (default host 127.0.0.1).",
)
@click.option(
    "--token", envvar="FRAMEDIFF_TOKEN", metavar="TOKEN",
    help="Secret the page requires (Bearer header or ?token=); needed to serve beyond loopback.",
)
@max_pixels_option
def search_command(
    queries: tuple[str, ...], db: str | None, top: int, max_distance: int, as_json: bool, neural: bool,
    serve: str | None, token: str | None,
) -> None:
    """Find the indexed pictures (and hash-list entries) each QUERY is a copy of.

    \b
    QUERY is a picture, a folder of pictures, or - (paths on stdin). Every match is verified by compare's
    verdict and says how the query relates to the indexed picture: exact, resized, recompressed, cropped,
    bordered (the picture inside the query, with where), mirrored, rotated, recoloured, edited (with the
    changed regions). Hash-list entries match by PDQ distance and give their label.

    \b
    framediff search upload.jpg --db pictures.sqlite
    framediff search inbox/ --db known.sqlite --json > matches.json

    framediff search --serve 8080 --db pictures.sqlite

    Exit status: 0 no match, 1 matches, 2 trouble (an unreadable query included).
    """
    if serve is not None:
        if neural:
            raise click.UsageError("--neural is not offered by the search page yet: search QUERY with --neural")
        if queries:
            raise click.UsageError("--serve takes no QUERY: pictures come from the page")
        server = serve_search(db, serve, token, top)
        click.echo(f"search page: {server.url}  (Ctrl-C to stop)", err=True)
        try:
            server.serve_forever()
        finally:
            server.close()
        return
    if not queries:
        raise click.UsageError("give a picture or folder to look up (or - for paths on stdin)")
    results = run_search(db, paths_from_args(queries), top, max_distance, None if as_json else _print_result, neural)
    if as_json:
        click.echo(json.dumps({"results": [r.to_dict() for r in results]}, indent=1))
    trouble = any(r.error for r in results)
    sys.exit(2 if trouble else 1 if any(r.matches for r in results) else 0)
