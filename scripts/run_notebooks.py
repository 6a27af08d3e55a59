#!/usr/bin/env python3
"""Execute one Jupyter notebook headless through its kernel (the Deno kernel).

This is the low-level executor behind `deno task course` and
tests/notebooks_test.ts; those call it through scripts/course.ts, which also
checks the executed outputs against the committed ones and retries. Run it by
hand only to debug a notebook:

    python3 scripts/run_notebooks.py notebooks/01_gpt1_pretraining.ipynb \
        --output out/01_gpt1_pretraining.ipynb

What it does on top of plain nbclient:

* the kernel runs with NO_COLOR=1 (no ANSI escapes in saved outputs) and with
  the notebook's own folder as working directory, so `deno jupyter` finds the
  repository's deno.json import map;
* progress on stderr: one line per code cell (cell i/N, elapsed time), and a
  heartbeat for long-running cells;
* late outputs are kept. The Deno kernel (>= 2.8.2) can publish a cell's last
  outputs (stream, display_data, even execute_result) on IOPub *after* its
  `status: idle` message. Stock nbclient stops listening to a cell at idle and
  then silently drops those messages while it waits for the next cell. This
  client routes every late message to the cell it belongs to (by the parent
  msg_id) and, after the last cell, keeps draining IOPub until it is quiet.
  scripts/course.ts still compares the result with the committed notebook,
  because a message can in principle arrive after the final drain;
* a machine-readable report (--report) saying how it went.

Exit status: 0 when every cell ran, 1 when a cell failed (error, timeout,
dead kernel) or the kernel could not start, 2 on bad usage. The executed
notebook is written even when a cell failed, so the error can be inspected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import traceback
import warnings
from queue import Empty
from typing import Any, Dict, List, Optional, Tuple

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionComplete,
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )
except ImportError as err:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        f"error: {err}. Install Jupyter: sudo apt-get install jupyter-notebook "
        "python3-nbclient jupyter-nbconvert (or pip install notebook nbclient "
        "nbconvert)\n"
    )
    sys.exit(2)

try:  # notebooks saved without cell ids get them on read; no need to warn
    from nbformat.warnings import MissingIDFieldWarning

    warnings.filterwarnings("ignore", category=MissingIDFieldWarning)
except ImportError:
    pass

try:  # nbclient >= 0.8 takes these from jupyter_core
    from jupyter_core.utils import ensure_async
except ImportError:  # nbclient 0.7 (Debian 12)
    from nbclient.util import ensure_async

OUTPUT_MSG_TYPES = {"stream", "display_data", "execute_result", "error"}


def log(text: str) -> None:
    """Print one progress line on stderr, immediately."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def fmt_seconds(seconds: float) -> str:
    """Format a duration as 4.2s or 3m07s."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def first_line(source: str, width: int = 60) -> str:
    """The first non-blank line of a cell's source, shortened for display."""
    for line in source.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


# A line from lib/display/progress.ts, e.g. "train 1200/2000 | loss 1.93 | … | ETA 4m10s".
PROGRESS_LINE = re.compile(r"^\S.* \d+/\d+( \|.*)?$")


def is_code(cell: Any) -> bool:
    """True for a code cell that the kernel will actually run."""
    return cell.cell_type == "code" and bool(cell.source.strip())


def coalesce_streams(outputs: List[Any]) -> List[Any]:
    """Merge consecutive stream outputs of the same name (stdout/stderr)."""
    merged: List[Any] = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (
            out.get("output_type") == "stream"
            and prev is not None
            and prev.get("output_type") == "stream"
            and prev.get("name") == out.get("name")
        ):
            prev["text"] = prev.get("text", "") + out.get("text", "")
        else:
            merged.append(out)
    return merged


class CourseClient(NotebookClient):
    """NotebookClient that keeps outputs the kernel publishes after `idle`."""

    def __init__(self, nb: Any, **kw: Any) -> None:
        super().__init__(nb, **kw)
        self.cells_by_parent: Dict[str, Tuple[Any, int]] = {}
        self.late_outputs: List[Tuple[int, str]] = []
        self.pending_clear: Dict[int, bool] = {}
        # The latest progress line the running cell displayed (see PROGRESS_LINE).
        self.progress_line: Optional[str] = None

    def route_late(self, msg: Dict[str, Any]) -> bool:
        """Add a message that belongs to an already finished cell to that cell.

        Returns True when the message belonged to a known cell.
        """
        parent = msg.get("parent_header", {}).get("msg_id")
        target = self.cells_by_parent.get(parent)
        if target is None:
            return False
        cell, index = target
        msg_type = msg["msg_type"]
        if msg_type in ("status", "execute_input"):
            return True
        # clear_output(wait=True) is remembered per cell, not for the running one.
        running_flag = self.clear_before_next_output
        self.clear_before_next_output = self.pending_clear.get(index, False)
        try:
            self.process_message(msg, cell, index)
        except CellExecutionComplete:
            pass
        finally:
            self.pending_clear[index] = self.clear_before_next_output
            self.clear_before_next_output = running_flag
        if msg_type in OUTPUT_MSG_TYPES:
            self.late_outputs.append((index, msg_type))
        return True

    async def _async_poll_output_msg(
        self, parent_msg_id: str, cell: Any, cell_index: int
    ) -> None:
        # Same loop as nbclient's, except that messages of earlier cells are
        # routed to them instead of being dropped.
        self.cells_by_parent[parent_msg_id] = (cell, cell_index)
        self.progress_line = None
        assert self.kc is not None
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                self.note_progress(msg)
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
            else:
                self.route_late(msg)

    def note_progress(self, msg: Dict[str, Any]) -> None:
        """Remember a text-only display that reads like a progress line."""
        if msg["msg_type"] not in ("display_data", "update_display_data"):
            return
        data = msg.get("content", {}).get("data", {})
        text = data.get("text/plain")
        if set(data) == {"text/plain"} and isinstance(text, str):
            line = text.strip().splitlines()[-1] if text.strip() else ""
            if PROGRESS_LINE.match(line):
                self.progress_line = line if len(line) <= 160 else line[:159] + "…"

    async def drain_late(self, quiet: float, cap: float) -> None:
        """Collect late IOPub messages until none came for `quiet` seconds."""
        assert self.kc is not None
        deadline = time.monotonic() + cap
        while time.monotonic() < deadline:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=quiet))
            except Empty:
                return
            self.route_late(msg)


class Progress:
    """Prints which cell runs, how long it and the notebook have taken."""

    def __init__(self, label: str, total: int, cells: int, heartbeat: float,
                 client: "CourseClient") -> None:
        self.label = label
        self.total = total
        self.cells = cells
        self.client = client
        self.heartbeat = heartbeat
        self.start = time.monotonic()
        self.cell_start = self.start
        self.current = ""
        self.task: Optional[asyncio.Task[None]] = None

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def begin(self, number: int, index: int, source: str) -> None:
        self.cell_start = time.monotonic()
        # Cells are named by their place in the file (#index + 1), as in error messages.
        self.current = f"cell #{index + 1} of {self.cells}"
        log(
            f"[{self.label}] {self.current} +{fmt_seconds(self.elapsed())}  {first_line(source)}"
        )

    def end(self) -> None:
        took = time.monotonic() - self.cell_start
        if took >= 5:
            log(f"[{self.label}] {self.current} done in {fmt_seconds(took)}")

    async def beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            took = time.monotonic() - self.cell_start
            latest = self.client.progress_line
            log(
                f"[{self.label}] {self.current} still running "
                f"({fmt_seconds(took)}, total {fmt_seconds(self.elapsed())})"
                + (f": {latest}" if latest else "")
            )


async def execute(
    nb: Any, args: argparse.Namespace, report: Dict[str, Any]
) -> None:
    """Run every code cell of `nb` in place; fill `report`."""
    workdir = os.path.dirname(os.path.abspath(args.input))
    kernel_name = args.kernel or nb.metadata.get("kernelspec", {}).get("name") or "deno"
    default_timeout = args.timeout if args.timeout > 0 else None

    def timeout_for(cell: Any) -> Optional[int]:
        course = cell.metadata.get("course", {})
        value = course.get("timeout") if isinstance(course, dict) else None
        return int(value) if isinstance(value, (int, float)) else default_timeout

    client = CourseClient(
        nb,
        kernel_name=kernel_name,
        timeout=default_timeout,
        timeout_func=timeout_for,
        startup_timeout=args.startup_timeout,
        iopub_timeout=10,
        record_timing=False,
        allow_errors=False,
        resources={"metadata": {"path": workdir}},
    )
    code_cells = [i for i, c in enumerate(nb.cells) if is_code(c)]
    progress = Progress(args.label, len(code_cells), len(nb.cells), args.heartbeat, client)
    report.update(kernel=kernel_name, code_cells=len(code_cells))
    log(
        f"[{args.label}] {len(code_cells)} code cells, kernel '{kernel_name}', "
        f"cwd {workdir}"
    )
    client.reset_execution_trackers()
    async with client.async_setup_kernel():
        assert client.kc is not None
        info_id = await ensure_async(client.kc.kernel_info())
        info = await client.async_wait_for_reply(info_id)
        if info is not None and "language_info" in info["content"]:
            nb.metadata["language_info"] = info["content"]["language_info"]
        progress.task = asyncio.ensure_future(progress.beat())
        try:
            for number, index in enumerate(code_cells, start=1):
                cell = nb.cells[index]
                report["cell"] = index
                progress.begin(number, index, cell.source)
                await client.async_execute_cell(
                    cell, index, execution_count=client.code_cells_executed + 1
                )
                # A clear_output(wait=True) still pending applies to late outputs.
                client.pending_clear[index] = client.clear_before_next_output
                progress.end()
            report["cell"] = None
        finally:
            progress.task.cancel()
            # Whatever happened, collect outputs that are still in flight
            # before the kernel is shut down.
            try:
                await client.drain_late(args.drain_quiet, args.drain_cap)
            except Exception:  # noqa: BLE001 - best effort on a dying kernel
                pass
            report["late_outputs"] = [
                {"cell": i, "type": t} for i, t in client.late_outputs
            ]
            report["seconds"] = round(progress.elapsed(), 2)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="notebook to execute (.ipynb)")
    parser.add_argument("--output", required=True, help="where to write the executed notebook")
    parser.add_argument("--report", help="write a JSON report of the run here")
    parser.add_argument("--label", help="name shown in progress lines (default: file name)")
    parser.add_argument("--kernel", help="kernel name (default: the notebook's kernelspec, else deno)")
    parser.add_argument("--timeout", type=int, default=1800,
                        help="per-cell timeout in seconds, 0 for none (default 1800); a cell "
                             "can override it with metadata {\"course\": {\"timeout\": N}}")
    parser.add_argument("--startup-timeout", type=int, default=120,
                        help="seconds to wait for the kernel to start (default 120)")
    parser.add_argument("--heartbeat", type=float, default=60,
                        help="print a 'still running' line every N seconds (default 60)")
    parser.add_argument("--drain-quiet", type=float, default=0.5,
                        help="after the last cell, wait until IOPub is quiet this long (s)")
    parser.add_argument("--drain-cap", type=float, default=5,
                        help="after the last cell, drain IOPub at most this long (s)")
    args = parser.parse_args(argv)
    if not args.label:
        args.label = os.path.splitext(os.path.basename(args.input))[0]

    # The kernel inherits this process's environment.
    os.environ["NO_COLOR"] = "1"
    os.environ.pop("FORCE_COLOR", None)

    nb = nbformat.read(args.input, as_version=4)
    report: Dict[str, Any] = {
        "notebook": args.input,
        "status": "ok",
        "cell": None,
        "message": "",
        "late_outputs": [],
    }
    status = 0
    try:
        asyncio.run(execute(nb, args, report))
    except CellTimeoutError as err:
        report.update(status="timeout", message=str(err).strip())
        status = 1
    except CellExecutionError as err:
        report.update(status="error", message=str(err).strip())
        status = 1
    except DeadKernelError as err:
        report.update(status="dead", message=f"the kernel died: {err}")
        status = 1
    except KeyboardInterrupt:
        report.update(status="interrupted", message="interrupted")
        status = 130
    except Exception as err:  # noqa: BLE001 - report anything else, e.g. no kernel
        report.update(status="failed", message=f"{type(err).__name__}: {err}")
        if os.environ.get("COURSE_DEBUG"):
            traceback.print_exc()
        status = 1

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
            cell.metadata.pop("execution", None)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    nbformat.write(nb, args.output)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    late = report.get("late_outputs") or []
    if late:
        cells = sorted({item["cell"] + 1 for item in late})
        log(
            f"[{args.label}] kept {len(late)} output(s) the kernel sent after its "
            f"idle status (cells {', '.join('#' + str(c) for c in cells)})"
        )
    if status == 0:
        log(f"[{args.label}] finished in {fmt_seconds(report.get('seconds', 0))}")
    else:
        where = "" if report["cell"] is None else f" in cell #{report['cell'] + 1}"
        log(f"[{args.label}] FAILED ({report['status']}){where}: {report['message']}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
