/**
 * `deno task course`: execute every notebook of the course headless, through
 * the real Deno Jupyter kernel, and export it to HTML.
 *
 * ```sh
 * deno task course                 # all notebooks, full mode -> out/*.ipynb, out/*.html
 * deno task course --quick         # GPT_COURSE_QUICK=1 -> out/quick/
 * deno task course --only gpt1     # notebooks whose file name contains "gpt1"
 * deno task course --in-place      # refresh the committed full-mode outputs
 * ```
 *
 * This module is also the notebook executor used by tests/notebooks_test.ts:
 * {@linkcode runNotebook} runs scripts/run_notebooks.py (nbclient) with
 * NO_COLOR=1, the quick-mode variable and the notebook's folder as working
 * directory, then checks the executed outputs against the committed ones with
 * {@linkcode compareNotebookOutputs} and retries when outputs went missing.
 *
 * @module
 */

import { basename, dirname, join, relative, resolve } from "node:path";
import { QUICK_ENV } from "../lib/course.ts";

export { QUICK_ENV };

/** Root folder of the repository (the folder holding deno.json). */
export const REPO_ROOT: string = resolve(import.meta.dirname ?? ".", "..");

/** Folder with the course notebooks. */
export const NOTEBOOKS_DIR: string = join(REPO_ROOT, "notebooks");

/** Folder for executed notebooks and HTML exports (gitignored). */
export const OUT_DIR: string = join(REPO_ROOT, "out");

/** The nbclient-based executor that {@linkcode runNotebook} drives. */
export const EXECUTOR: string = join(REPO_ROOT, "scripts", "run_notebooks.py");

/** How to install what {@linkcode findPython} looks for. */
export const JUPYTER_HINT =
  "install Jupyter: sudo apt-get install jupyter-notebook python3-nbclient jupyter-nbconvert (or pip install notebook nbclient nbconvert)";

/** One output of a code cell, as stored in an nbformat 4 notebook. */
export interface NotebookOutput {
  /** "stream", "display_data", "execute_result" or "error". */
  output_type: string;
  /** For streams: "stdout" or "stderr". */
  name?: string;
  /** For streams: the text. */
  text?: string | string[];
  /** For display_data / execute_result: the MIME bundle. */
  data?: Record<string, unknown>;
  /** For errors: the exception name. */
  ename?: string;
  /** For errors: the exception message. */
  evalue?: string;
  /** For errors: the traceback lines. */
  traceback?: string[];
  /** Anything else nbformat stores. */
  [key: string]: unknown;
}

/** One cell of an nbformat 4 notebook. */
export interface NotebookCell {
  /** "code", "markdown" or "raw". */
  cell_type: string;
  /** The source, as one string or as lines. */
  source: string | string[];
  /** Cell metadata; `{"course": {"outputs": "any"}}` opts out of output checks. */
  metadata?: Record<string, unknown>;
  /** Outputs of a code cell. */
  outputs?: NotebookOutput[];
  /** Anything else nbformat stores. */
  [key: string]: unknown;
}

/** An nbformat 4 notebook (only the parts this module reads). */
export interface Notebook {
  /** The cells, in order. */
  cells: NotebookCell[];
  /** Notebook metadata (kernelspec, language_info, ...). */
  metadata?: Record<string, unknown>;
  /** Anything else nbformat stores. */
  [key: string]: unknown;
}

/** Something wrong with the outputs of one executed cell. */
export interface OutputProblem {
  /** 0-based index of the cell in the notebook's `cells` array. */
  cell: number;
  /** "missing": outputs the committed notebook has were not produced (the
   * kernel may have lost them: worth a retry); "error": the cell raised. */
  kind: "missing" | "error";
  /** Human-readable description, starting with the cell number. */
  message: string;
}

/** Joins a cell source that nbformat may store as a list of lines. */
export function sourceText(source: string | string[]): string {
  return Array.isArray(source) ? source.join("") : source;
}

/** The first non-blank line of a cell, shortened, to name the cell. */
export function cellPreview(cell: NotebookCell, width = 50): string {
  const line = sourceText(cell.source).split("\n").map((l) => l.trim())
    .find((l) => l.length > 0) ?? "";
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`;
}

/** True when the cell's metadata says `{"course": {"outputs": "any"}}`. */
export function outputsAreFree(cell: NotebookCell): boolean {
  const course = cell.metadata?.course;
  return typeof course === "object" && course !== null &&
    (course as Record<string, unknown>).outputs === "any";
}

const isRich = (o: NotebookOutput) =>
  o.output_type === "display_data" || o.output_type === "execute_result";

function kindsOf(outputs: NotebookOutput[]): string {
  return outputs.length === 0 ? "nothing" : outputs
    .map((o) => o.output_type === "stream" ? `${o.name ?? "stream"}` : o.output_type)
    .join(", ");
}

/**
 * Compares the outputs of one executed code cell with the committed ones.
 *
 * Rules (the committed notebook, executed in full mode by a developer, is the
 * expectation):
 * - an executed `error` output is always a problem;
 * - when `any` is true (cell metadata `{"course": {"outputs": "any"}}`) or the
 *   committed outputs are empty (never executed), nothing else is checked;
 * - the number of display_data + execute_result outputs must match;
 * - for each stream name (stdout, stderr) in the committed outputs, the
 *   executed cell must have a stream of that name too (its text may differ).
 *
 * @returns the problems found, each a sentence without the cell prefix.
 */
export function compareCellOutputs(
  committed: NotebookOutput[],
  executed: NotebookOutput[],
  any = false,
): { kind: OutputProblem["kind"]; message: string }[] {
  const problems: { kind: OutputProblem["kind"]; message: string }[] = [];
  for (const out of executed) {
    if (out.output_type === "error") {
      problems.push({
        kind: "error",
        message: `raised ${out.ename ?? "an error"}: ${out.evalue ?? ""}`
          .trim(),
      });
    }
  }
  if (any || committed.length === 0) return problems;
  const want = committed.filter(isRich).length;
  const got = executed.filter(isRich).length;
  if (want !== got) {
    problems.push({
      kind: "missing",
      message: `expected ${want} display_data/execute_result output(s), got ${got}` +
        ` (committed: ${kindsOf(committed)}; executed: ${kindsOf(executed)})`,
    });
  }
  const streams = new Set(
    committed.filter((o) => o.output_type === "stream").map((o) => o.name ?? "stdout"),
  );
  for (const name of streams) {
    if (
      !executed.some((o) => o.output_type === "stream" && (o.name ?? "stdout") === name)
    ) {
      problems.push({
        kind: "missing",
        message: `missing its ${name} output (committed: ${kindsOf(committed)}; executed: ${
          kindsOf(executed)
        })`,
      });
    }
  }
  return problems;
}

/**
 * Compares every code cell of an executed notebook with the committed one.
 * See {@linkcode compareCellOutputs} for the rules.
 */
export function compareNotebookOutputs(
  committed: Notebook,
  executed: Notebook,
): OutputProblem[] {
  if (committed.cells.length !== executed.cells.length) {
    return [{
      cell: -1,
      kind: "error",
      message:
        `the executed notebook has ${executed.cells.length} cells, the committed one ${committed.cells.length}`,
    }];
  }
  const problems: OutputProblem[] = [];
  committed.cells.forEach((want, i) => {
    const got = executed.cells[i];
    if (want.cell_type !== "code" || got.cell_type !== "code") return;
    const found = compareCellOutputs(
      want.outputs ?? [],
      got.outputs ?? [],
      outputsAreFree(want) || outputsAreFree(got),
    );
    for (const p of found) {
      problems.push({
        cell: i,
        kind: p.kind,
        message: `cell #${i + 1} (${cellPreview(want)}): ${p.message}`,
      });
    }
  });
  return problems;
}

/** A prerequisite (Jupyter, the Deno kernel) is missing; the message says the fix. */
export class PrerequisiteError extends Error {
  /** @param message what is missing and how to install it */
  constructor(message: string) {
    super(message);
    this.name = "PrerequisiteError";
  }
}

/** A notebook failed: a cell raised, timed out, or outputs stayed missing. */
export class NotebookRunError extends Error {
  /** The notebook that failed. */
  notebook: string;
  /** 0-based index of the failing cell, when known. */
  cell?: number;
  /** Where the (partially) executed notebook was written. */
  output: string;
  /** The output problems, when that is why it failed. */
  problems: OutputProblem[];

  /**
   * @param message full explanation
   * @param details which notebook, cell and output
   */
  constructor(
    message: string,
    details: {
      notebook: string;
      output: string;
      cell?: number;
      problems?: OutputProblem[];
    },
  ) {
    super(message);
    this.name = "NotebookRunError";
    this.notebook = details.notebook;
    this.output = details.output;
    this.cell = details.cell;
    this.problems = details.problems ?? [];
  }
}

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

async function capture(cmd: string, args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (!success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${text.decode(stderr)}`);
  }
  return text.decode(stdout);
}

/** Finds an executable on PATH, like `which`. */
export async function which(name: string): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    const path = join(dir, name);
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** The interpreter named by a script's `#!` line (`#!/usr/bin/env python3` too). */
async function shebangOf(path: string): Promise<string[] | null> {
  try {
    const file = await Deno.open(path);
    try {
      const buf = new Uint8Array(256);
      const n = await file.read(buf) ?? 0;
      const line = new TextDecoder().decode(buf.subarray(0, n)).split("\n")[0];
      if (!line.startsWith("#!")) return null;
      const words = line.slice(2).trim().split(/\s+/);
      if (basename(words[0]) === "env") {
        return words.slice(1).filter((w) => !w.startsWith("-"));
      }
      return [words[0]];
    } finally {
      file.close();
    }
  } catch {
    return null;
  }
}

let pythonCache: string | null | undefined;

/**
 * Finds a Python interpreter that can import nbclient, nbformat and
 * jupyter_client: `$COURSE_PYTHON`, then the one that runs `jupyter`, then
 * `python3` on PATH, then /usr/bin/python3 (pyenv or a venv may shadow the
 * Debian python that has the apt-installed Jupyter packages).
 *
 * @returns the interpreter, or null when there is none
 */
export async function findPython(): Promise<string | null> {
  if (pythonCache !== undefined) return pythonCache;
  const candidates: string[] = [];
  const forced = Deno.env.get("COURSE_PYTHON");
  if (forced) candidates.push(forced);
  const jupyter = await which("jupyter");
  const viaJupyter = jupyter ? await shebangOf(jupyter) : null;
  if (viaJupyter?.length === 1) candidates.push(viaJupyter[0]);
  candidates.push("python3", "/usr/bin/python3", "python");
  for (const python of candidates) {
    if (
      await succeeds(python, [
        "-c",
        "import nbclient, nbformat, jupyter_client",
      ])
    ) {
      pythonCache = python;
      return python;
    }
  }
  pythonCache = null;
  return null;
}

/** What {@linkcode checkPrerequisites} found. */
export interface Prerequisites {
  /** Python with nbclient, to run scripts/run_notebooks.py and nbconvert. */
  python: string;
  /** Folder of the registered Deno kernel spec. */
  kernelDir: string;
  /** The deno executable that the kernel spec starts. */
  kernelDeno: string;
}

async function denoKernel(
  python: string,
): Promise<{ dir: string; deno: string } | null> {
  const script = [
    "import json, os",
    "from jupyter_client.kernelspec import KernelSpecManager",
    "d = KernelSpecManager().find_kernel_specs().get('deno')",
    "argv = json.load(open(os.path.join(d, 'kernel.json')))['argv'] if d else []",
    "print(json.dumps({'dir': d, 'deno': argv[0] if argv else None}))",
  ].join("\n");
  const found = JSON.parse(await capture(python, ["-c", script])) as {
    dir: string | null;
    deno: string | null;
  };
  if (!found.dir || !found.deno) return null;
  return { dir: found.dir, deno: found.deno };
}

async function isExecutable(path: string): Promise<boolean> {
  const full = path.includes("/") ? path : await which(path);
  if (!full) return false;
  try {
    return (await Deno.stat(full)).isFile;
  } catch {
    return false;
  }
}

/**
 * Checks that Jupyter (nbclient) is installed and that the Deno kernel is
 * registered; registers the kernel with `deno jupyter --install` when it is
 * missing or points at a deno executable that no longer exists.
 *
 * @throws {PrerequisiteError} naming the fix when something cannot be fixed here
 */
export async function checkPrerequisites(
  log: (line: string) => void = console.log,
): Promise<Prerequisites> {
  const python = await findPython();
  if (!python) {
    throw new PrerequisiteError(
      `Jupyter (python3 with nbclient) was not found: ${JUPYTER_HINT}`,
    );
  }
  let kernel = await denoKernel(python);
  if (!kernel || !(await isExecutable(kernel.deno))) {
    log(
      kernel
        ? `The Deno Jupyter kernel points at ${kernel.deno}, which is gone: registering it again.`
        : "The Deno Jupyter kernel is not registered: running `deno jupyter --install`.",
    );
    const args = ["jupyter", "--install", ...(kernel ? ["--force"] : [])];
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args,
      stdin: "null",
      stdout: "inherit",
      stderr: "piped",
    }).output();
    kernel = await denoKernel(python);
    if (!success || !kernel) {
      throw new PrerequisiteError(
        `could not register the Deno Jupyter kernel; run \`deno jupyter --install --force\` by hand.\n${
          new TextDecoder().decode(stderr)
        }`,
      );
    }
  }
  return { python, kernelDir: kernel.dir, kernelDeno: kernel.deno };
}

/** Options of {@linkcode runNotebook}. */
export interface RunOptions {
  /** Where to write the executed notebook. */
  output: string;
  /** Quick mode: sets GPT_COURSE_QUICK=1 (full mode removes the variable). */
  quick?: boolean;
  /** Whole-notebook retries when outputs went missing (default 2). */
  retries?: number;
  /** Per-cell timeout in seconds (default: $COURSE_CELL_TIMEOUT, else 600 quick / 7200 full). */
  cellTimeout?: number;
  /** Compare outputs with the committed notebook (default true); errors are always fatal. */
  checkOutputs?: boolean;
  /** Name in progress lines (default: the file name without .ipynb). */
  label?: string;
  /** Python with nbclient (default: {@linkcode findPython}). */
  python?: string;
  /** Where progress and retry notes go (default console.error). */
  log?: (line: string) => void;
}

/** What {@linkcode runNotebook} returns when the notebook ran fine. */
export interface RunResult {
  /** The executed notebook. */
  notebook: Notebook;
  /** Where it was written. */
  output: string;
  /** Executions it took (1 + retries used). */
  attempts: number;
  /** Wall time of all attempts, in seconds. */
  seconds: number;
  /** Outputs the kernel sent after its idle status, kept by the executor. */
  lateOutputs: number;
}

interface ExecutorReport {
  status: string;
  cell: number | null;
  message: string;
  late_outputs?: { cell: number; type: string }[];
}

/** Reads a notebook file. */
export async function readNotebook(path: string): Promise<Notebook> {
  return JSON.parse(await Deno.readTextFile(path)) as Notebook;
}

function errorText(nb: Notebook | null, cell: number | null): string | null {
  if (!nb || cell === null || !nb.cells[cell]) return null;
  const err = (nb.cells[cell].outputs ?? []).find((o) => o.output_type === "error");
  if (!err) return null;
  const trace = (err.traceback ?? []).join("\n").trim();
  return trace || `${err.ename}: ${err.evalue}`;
}

/**
 * Executes a notebook headless through its Jupyter kernel and checks it.
 *
 * The kernel runs with NO_COLOR=1, GPT_COURSE_QUICK=1 in quick mode (and
 * without it otherwise), and the notebook's folder as working directory.
 * After a successful execution the outputs are compared with the committed
 * notebook ({@linkcode compareNotebookOutputs}); if outputs are missing the
 * whole notebook is executed again, up to `retries` times.
 *
 * @throws {NotebookRunError} when a cell fails or outputs stay missing
 * @throws {PrerequisiteError} when Jupyter is missing
 */
export async function runNotebook(
  path: string,
  options: RunOptions,
): Promise<RunResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const python = options.python ?? await findPython();
  if (!python) {
    throw new PrerequisiteError(`Jupyter was not found: ${JUPYTER_HINT}`);
  }
  const notebookPath = resolve(path);
  const shown = relative(REPO_ROOT, notebookPath) || notebookPath;
  const output = resolve(options.output);
  const retries = options.retries ?? 2;
  const quick = options.quick ?? false;
  const envTimeout = Number(Deno.env.get("COURSE_CELL_TIMEOUT"));
  const cellTimeout = options.cellTimeout ??
    (envTimeout > 0 ? envTimeout : quick ? 600 : 7200);
  const label = options.label ?? basename(notebookPath, ".ipynb");
  const committed = await readNotebook(notebookPath);

  const env = Deno.env.toObject();
  env.NO_COLOR = "1";
  delete env.FORCE_COLOR;
  if (quick) env[QUICK_ENV] = "1";
  else delete env[QUICK_ENV];

  await Deno.mkdir(dirname(output), { recursive: true });
  const reportPath = await Deno.makeTempFile({
    prefix: "course-report-",
    suffix: ".json",
  });
  const started = performance.now();
  let lateOutputs = 0;
  try {
    for (let attempt = 1;; attempt++) {
      await Deno.writeTextFile(reportPath, "");
      const { code } = await new Deno.Command(python, {
        args: [
          EXECUTOR,
          notebookPath,
          "--output",
          output,
          "--report",
          reportPath,
          "--label",
          label,
          "--timeout",
          String(cellTimeout),
        ],
        env,
        clearEnv: true,
        cwd: dirname(notebookPath),
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn().status;
      const reportText = await Deno.readTextFile(reportPath);
      if (!reportText) {
        throw new NotebookRunError(
          `${shown}: the executor exited with status ${code} without a report (see above)`,
          { notebook: shown, output },
        );
      }
      const report = JSON.parse(reportText) as ExecutorReport;
      lateOutputs += report.late_outputs?.length ?? 0;
      let executed: Notebook | null = null;
      try {
        executed = await readNotebook(output);
      } catch {
        // no notebook written: explained by the report
      }
      if (code !== 0 || report.status !== "ok" || !executed) {
        const where = report.cell === null ? "" : ` cell #${report.cell + 1}` +
          (committed.cells[report.cell] ? ` (${cellPreview(committed.cells[report.cell])})` : "");
        const detail = errorText(executed, report.cell) ?? report.message;
        const transient = report.status === "dead" ||
          report.status === "failed";
        if (transient && attempt <= retries) {
          log(
            `[${label}] ${report.status}: ${report.message} — retrying (${attempt}/${retries})`,
          );
          continue;
        }
        throw new NotebookRunError(
          `${shown}:${where} failed (${report.status}):\n${detail}\n` +
            `The executed notebook is in ${relative(REPO_ROOT, output) || output}.`,
          { notebook: shown, output, cell: report.cell ?? undefined },
        );
      }
      const problems = options.checkOutputs === false
        ? compareNotebookOutputs(committed, executed).filter((p) => p.kind === "error")
        : compareNotebookOutputs(committed, executed);
      const missing = problems.filter((p) => p.kind === "missing");
      if (problems.length === 0) {
        return {
          notebook: executed,
          output,
          attempts: attempt,
          seconds: (performance.now() - started) / 1000,
          lateOutputs,
        };
      }
      if (missing.length === problems.length && attempt <= retries) {
        log(
          `[${label}] outputs missing compared with the committed notebook ` +
            `(the Deno kernel can lose outputs sent just before a cell ends); ` +
            `executing it again (retry ${attempt}/${retries}):\n  ` +
            missing.map((p) => p.message).join("\n  "),
        );
        continue;
      }
      throw new NotebookRunError(
        `${shown}: outputs differ from the committed notebook` +
          (missing.length ? ` after ${attempt} execution(s)` : "") + ":\n  " +
          problems.map((p) => p.message).join("\n  ") +
          (missing.length
            ? "\nIf a cell's outputs changed on purpose, refresh the committed notebook " +
              "(`deno task course --in-place --fresh --only <name>`), or mark the cell " +
              'with metadata {"course": {"outputs": "any"}} if its outputs vary.'
            : "") +
          `\nThe executed notebook is in ${relative(REPO_ROOT, output) || output}.`,
        { notebook: shown, output, cell: problems[0].cell, problems },
      );
    }
  } finally {
    await Deno.remove(reportPath).catch(() => {});
  }
}

/** Exports an executed notebook to HTML next to it (`jupyter nbconvert --to html`). */
export async function exportHtml(
  notebook: string,
  python: string,
): Promise<string> {
  const { success, stderr } = await new Deno.Command(python, {
    args: [
      "-m",
      "nbconvert",
      "--to",
      "html",
      "--output-dir",
      dirname(notebook),
      notebook,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(
      `jupyter nbconvert --to html ${notebook} failed:\n${new TextDecoder().decode(stderr)}`,
    );
  }
  return notebook.replace(/\.ipynb$/, ".html");
}

/** The course notebooks (notebooks/*.ipynb), sorted by file name. */
export async function listNotebooks(
  dir: string = NOTEBOOKS_DIR,
): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".ipynb")) names.push(entry.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort().map((name) => join(dir, name));
}

/** Formats seconds as 4.2s, 3m07s or 1h02m03s. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const total = Math.round(seconds);
  const s = String(total % 60).padStart(2, "0");
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  return h ? `${h}h${String(m).padStart(2, "0")}m${s}s` : `${m}m${s}s`;
}

/** Command-line options of `deno task course`. */
export interface CourseArgs {
  /** GPT_COURSE_QUICK=1, outputs to out/quick/. */
  quick: boolean;
  /** Write executed notebooks back over notebooks/*.ipynb. */
  inPlace: boolean;
  /** Don't hold executed outputs to the committed ones (errors still fail). */
  fresh: boolean;
  /** Skip the HTML export. */
  html: boolean;
  /** Only notebooks whose file name contains one of these. */
  only: string[];
  /** Per-cell timeout in seconds, when given. */
  timeout?: number;
  /** Show the usage text. */
  help: boolean;
}

/** Usage text of `deno task course`. */
export const USAGE = `Usage: deno task course [options]

Executes every notebook in notebooks/ in order, headless, through the Deno
Jupyter kernel, and writes out/<name>.ipynb and out/<name>.html.

  --quick           quick mode (${QUICK_ENV}=1): small models, few steps; writes to out/quick/
  --only <text>     only notebooks whose file name contains <text> (repeatable)
  --in-place        also write the executed notebooks back over notebooks/*.ipynb
                    (how the committed full-mode outputs are refreshed)
  --fresh           don't compare outputs with the committed ones (after you
                    changed what cells print); errors still fail
  --no-html         skip the HTML export
  --timeout <s>     per-cell timeout in seconds (default 7200, quick 600)
  -h, --help        this text
`;

/** Parses the arguments of `deno task course`. */
export function parseCourseArgs(args: string[]): CourseArgs {
  const parsed: CourseArgs = {
    quick: false,
    inPlace: false,
    fresh: false,
    html: true,
    only: [],
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const v = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[++i];
      if (v === undefined || v === "") {
        throw new Error(`${arg} needs a value\n\n${USAGE}`);
      }
      return v;
    };
    const flag = arg.split("=")[0];
    if (flag === "--quick") parsed.quick = true;
    else if (flag === "--in-place") parsed.inPlace = true;
    else if (flag === "--fresh") parsed.fresh = true;
    else if (flag === "--no-html") parsed.html = false;
    else if (flag === "--only") parsed.only.push(value());
    else if (flag === "--timeout") {
      const t = Number(value());
      if (!(t > 0)) {
        throw new Error(`--timeout needs a number of seconds\n\n${USAGE}`);
      }
      parsed.timeout = t;
    } else if (flag === "-h" || flag === "--help") parsed.help = true;
    else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  if (parsed.inPlace && parsed.quick) {
    throw new Error(
      "--in-place stores the committed full-mode outputs; it can't be combined with --quick",
    );
  }
  return parsed;
}

/** Runs `deno task course` with the given arguments; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let args: CourseArgs;
  try {
    args = parseCourseArgs(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  let prereqs: Prerequisites;
  try {
    prereqs = await checkPrerequisites();
  } catch (err) {
    if (err instanceof PrerequisiteError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    throw err;
  }
  const all = await listNotebooks();
  const selected = args.only.length
    ? all.filter((p) => args.only.some((s) => basename(p).includes(s)))
    : all;
  if (selected.length === 0) {
    console.error(
      all.length
        ? `no notebook in notebooks/ matches ${args.only.map((s) => `"${s}"`).join(" or ")}`
        : "no notebooks in notebooks/ yet",
    );
    return all.length ? 1 : 0;
  }
  const mode = args.quick ? `quick mode (${QUICK_ENV}=1)` : "full mode";
  const outDir = args.quick ? join(OUT_DIR, "quick") : OUT_DIR;
  console.log(
    `Running ${selected.length} notebook(s) in ${mode} with the Deno kernel (${prereqs.kernelDeno}); ` +
      `results in ${relative(REPO_ROOT, outDir)}/`,
  );
  const started = performance.now();
  const done: string[] = [];
  for (const [i, path] of selected.entries()) {
    const name = basename(path, ".ipynb");
    console.log(`\n==> [${i + 1}/${selected.length}] ${name}.ipynb (${mode})`);
    const output = join(outDir, `${name}.ipynb`);
    let result: RunResult;
    try {
      result = await runNotebook(path, {
        output,
        quick: args.quick,
        cellTimeout: args.timeout,
        checkOutputs: !args.fresh,
        python: prereqs.python,
        label: name,
      });
    } catch (err) {
      if (err instanceof NotebookRunError || err instanceof PrerequisiteError) {
        console.error(`\nFAILED: ${err.message}`);
        console.error(
          `Stopped at notebook ${i + 1}/${selected.length} (${name}) after ${
            formatSeconds((performance.now() - started) / 1000)
          }.`,
        );
        return 1;
      }
      throw err;
    }
    const parts = [relative(REPO_ROOT, output)];
    if (args.inPlace) {
      await Deno.copyFile(output, path);
      parts.push(`${relative(REPO_ROOT, path)} (updated)`);
    }
    if (args.html) {
      try {
        parts.push(
          relative(REPO_ROOT, await exportHtml(output, prereqs.python)),
        );
      } catch (err) {
        console.error(`\nFAILED: ${(err as Error).message}`);
        return 1;
      }
    }
    const retried = result.attempts > 1 ? `, ${result.attempts} attempts` : "";
    const line = `${name}: ok in ${formatSeconds(result.seconds)}${retried}`;
    done.push(line);
    console.log(`${line} -> ${parts.join(", ")}`);
  }
  console.log(
    `\nAll ${selected.length} notebook(s) ran in ${
      formatSeconds((performance.now() - started) / 1000)
    }:\n  ${done.join("\n  ")}`,
  );
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
