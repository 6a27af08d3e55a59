/**
 * Executes every course notebook (notebooks/*.ipynb) headless in quick mode
 * (GPT_COURSE_QUICK=1) through the real Deno Jupyter kernel, and checks that
 * each cell produces the kinds of outputs its committed (full-mode) version
 * has. Also tests the runner itself on tests/fixtures/ and the output
 * comparison as a pure function.
 *
 * Needs Jupyter (python3 with nbclient); the Deno kernel is registered on the
 * fly when missing. Set COURSE_SKIP_NOTEBOOKS=1 to skip the tests that start a
 * kernel.
 *
 * @module
 */

import assert from "node:assert/strict";
import { basename, join } from "node:path";
import {
  checkPrerequisites,
  compareCellOutputs,
  compareNotebookOutputs,
  listNotebooks,
  type Notebook,
  type NotebookOutput,
  NotebookRunError,
  OUT_DIR,
  parseCourseArgs,
  REPO_ROOT,
  runNotebook,
} from "../scripts/course.ts";

const FIXTURES = join(REPO_ROOT, "tests", "fixtures");
const TEST_OUT = join(OUT_DIR, "test");
const skipKernel = Deno.env.get("COURSE_SKIP_NOTEBOOKS") === "1";

/** Awaits a run that must fail with a NotebookRunError, and returns the error. */
async function failure(run: Promise<unknown>): Promise<NotebookRunError> {
  try {
    await run;
  } catch (err) {
    if (err instanceof NotebookRunError) return err;
    throw err;
  }
  throw new assert.AssertionError({
    message: "expected the run to fail with a NotebookRunError",
  });
}

let prereqs: Promise<{ python: string }> | undefined;
/** Checks Jupyter and registers the kernel once for all tests of this file. */
function ready(): Promise<{ python: string }> {
  prereqs ??= checkPrerequisites((line) => console.error(line));
  return prereqs;
}

// ---------------------------------------------------------------------------
// The comparison rules, without Jupyter.

const stdout = (text = "x\n"): NotebookOutput => ({
  output_type: "stream",
  name: "stdout",
  text,
});
const stderr = (text = "x\n"): NotebookOutput => ({
  output_type: "stream",
  name: "stderr",
  text,
});
const display = (): NotebookOutput => ({
  output_type: "display_data",
  data: { "text/plain": "d" },
  metadata: {},
});
const result = (): NotebookOutput => ({
  output_type: "execute_result",
  data: { "text/plain": "r" },
  metadata: {},
  execution_count: 1,
});
const error = (): NotebookOutput => ({
  output_type: "error",
  ename: "Error",
  evalue: "boom",
  traceback: ["Error: boom"],
});

Deno.test("compare: identical kinds of outputs are fine, texts may differ", () => {
  assert.deepEqual(
    compareCellOutputs([stdout("a\n"), display(), result()], [
      stdout("b\n"),
      display(),
      result(),
    ]),
    [],
  );
});

Deno.test("compare: display_data and execute_result are counted together", () => {
  assert.deepEqual(
    compareCellOutputs([display(), result()], [display(), display()]),
    [],
  );
  const problems = compareCellOutputs([display(), display()], [display()]);
  assert.equal(problems.length, 1);
  assert.equal(problems[0].kind, "missing");
  assert.match(
    problems[0].message,
    /expected 2 display_data\/execute_result output\(s\), got 1/,
  );
});

Deno.test("compare: extra rich outputs are a mismatch too", () => {
  const problems = compareCellOutputs([result()], [display(), result()]);
  assert.equal(problems.length, 1);
  assert.match(problems[0].message, /expected 1 .* got 2/);
});

Deno.test("compare: a lost stream is reported by name", () => {
  assert.deepEqual(compareCellOutputs([stdout()], [stdout(), stdout()]), []);
  const lost = compareCellOutputs([stdout(), stderr()], [stdout()]);
  assert.equal(lost.length, 1);
  assert.match(lost[0].message, /missing its stderr output/);
  const none = compareCellOutputs([stdout(), display()], [display()]);
  assert.equal(none.length, 1);
  assert.match(none[0].message, /missing its stdout output/);
});

Deno.test("compare: extra streams are allowed", () => {
  assert.deepEqual(compareCellOutputs([display()], [stderr(), display()]), []);
});

Deno.test("compare: never-executed cells impose no expectation", () => {
  assert.deepEqual(compareCellOutputs([], [stdout(), display(), result()]), []);
  assert.deepEqual(compareCellOutputs([], []), []);
});

Deno.test("compare: an error output always fails, even when opted out", () => {
  for (const any of [false, true]) {
    const problems = compareCellOutputs([], [stdout(), error()], any);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].kind, "error");
    assert.match(problems[0].message, /raised Error: boom/);
  }
});

Deno.test("compare: opted-out cells may produce anything but errors", () => {
  assert.deepEqual(compareCellOutputs([stdout(), display()], [], true), []);
});

Deno.test("compare: notebook-level check names cells, skips markdown, reads the opt-out", () => {
  const committed: Notebook = {
    cells: [
      { cell_type: "markdown", source: "# title" },
      {
        cell_type: "code",
        source: ["console.log(1);\n", "show()"],
        outputs: [stdout(), display()],
      },
      {
        cell_type: "code",
        source: "random()",
        metadata: { course: { outputs: "any" } },
        outputs: [display(), display()],
      },
      { cell_type: "code", source: "fresh()", outputs: [] },
    ],
  };
  const executed: Notebook = {
    cells: [
      { cell_type: "markdown", source: "# title" },
      { cell_type: "code", source: "", outputs: [stdout()] },
      { cell_type: "code", source: "", outputs: [] },
      { cell_type: "code", source: "", outputs: [stdout()] },
    ],
  };
  const problems = compareNotebookOutputs(committed, executed);
  assert.equal(problems.length, 1);
  assert.equal(problems[0].cell, 1);
  assert.equal(problems[0].kind, "missing");
  assert.match(
    problems[0].message,
    /^cell #2 \(console\.log\(1\);\): expected 1 display_data/,
  );
});

Deno.test("compare: a changed number of cells is reported", () => {
  const problems = compareNotebookOutputs(
    { cells: [{ cell_type: "code", source: "", outputs: [] }] },
    { cells: [] },
  );
  assert.equal(problems.length, 1);
  assert.equal(problems[0].kind, "error");
});

Deno.test("course arguments", () => {
  const args = parseCourseArgs([
    "--quick",
    "--only",
    "gpt1",
    "--only=gpt2",
    "--no-html",
  ]);
  assert.equal(args.quick, true);
  assert.deepEqual(args.only, ["gpt1", "gpt2"]);
  assert.equal(args.html, false);
  assert.equal(parseCourseArgs(["--timeout", "30"]).timeout, 30);
  assert.throws(() => parseCourseArgs(["--in-place", "--quick"]), /--in-place/);
  assert.throws(() => parseCourseArgs(["--only"]), /needs a value/);
  assert.throws(() => parseCourseArgs(["--bogus"]), /unknown option/);
});

// ---------------------------------------------------------------------------
// The runner, through the real Deno kernel.

Deno.test({
  name: "runner: smoke fixture through the Deno kernel (quick mode, outputs checked)",
  ignore: skipKernel,
  async fn() {
    const { python } = await ready();
    const run = await runNotebook(join(FIXTURES, "smoke.ipynb"), {
      output: join(TEST_OUT, "fixtures", "smoke.ipynb"),
      quick: true,
      python,
      cellTimeout: 120,
    });
    const cells = run.notebook.cells.filter((c) => c.cell_type === "code");
    const text = (cells[0].outputs ?? []).map((o) => [o.text ?? ""].flat().join("")).join("");
    assert.match(text, /hello from the Deno kernel/);
    assert.match(
      text,
      /quick=1 noColor=true/,
      "GPT_COURSE_QUICK=1 and NO_COLOR=1 reach the kernel",
    );
    assert.match(
      text,
      /cwd=tests\/fixtures/,
      "the kernel runs in the notebook's folder",
    );
    const answer = cells[2].outputs?.find((o) => o.output_type === "execute_result");
    assert.equal([answer?.data?.["text/plain"]].flat().join(""), "42");
    assert.ok(
      !JSON.stringify(run.notebook).includes("\\u001b["),
      "no ANSI escapes in outputs",
    );
  },
});

Deno.test({
  name: "runner: a failing cell is reported with its number and error",
  ignore: skipKernel,
  async fn() {
    const { python } = await ready();
    const output = join(TEST_OUT, "fixtures", "error.ipynb");
    const err = await failure(
      runNotebook(join(FIXTURES, "error.ipynb"), {
        output,
        quick: true,
        python,
        label: "error fixture, expected to fail",
        cellTimeout: 120,
      }),
    );
    assert.equal(err.cell, 2);
    assert.match(err.message, /tests\/fixtures\/error\.ipynb: cell #3/);
    assert.match(err.message, /intentional failure in the error fixture/);
    const executed = JSON.parse(await Deno.readTextFile(output)) as Notebook;
    assert.deepEqual(
      executed.cells[3].outputs,
      [],
      "execution stops at the failing cell",
    );
  },
});

Deno.test({
  name: "runner: outputs missing compared with the committed notebook fail after retries",
  ignore: skipKernel,
  async fn() {
    const { python } = await ready();
    // The smoke fixture, but its committed "answer" cell claims one more display.
    const nb = JSON.parse(
      await Deno.readTextFile(join(FIXTURES, "smoke.ipynb")),
    ) as Notebook;
    const index = nb.cells.findIndex((c) => [c.source].flat().join("").includes("6 * 7"));
    nb.cells[index].outputs = [display(), ...(nb.cells[index].outputs ?? [])];
    // Kept under the repository so the kernel still finds deno.json.
    const dir = join(TEST_OUT, "tampered");
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, "smoke.ipynb"),
      JSON.stringify(nb, null, 1),
    );
    const notes: string[] = [];
    const err = await failure(
      runNotebook(join(dir, "smoke.ipynb"), {
        output: join(dir, "executed", "smoke.ipynb"),
        quick: true,
        python,
        retries: 1,
        cellTimeout: 120,
        label: "tampered smoke fixture, expected to fail",
        log: (line) => notes.push(line),
      }),
    );
    assert.equal(err.cell, index);
    assert.match(
      err.message,
      /smoke\.ipynb: outputs differ from the committed notebook after 2/,
    );
    assert.match(
      err.message,
      new RegExp(`cell #${index + 1} \\(const answer = 6 \\* 7;\\)`),
    );
    assert.match(
      err.message,
      /expected 2 display_data\/execute_result output\(s\), got 1/,
    );
    assert.equal(notes.length, 1, "one retry was announced");
    assert.match(notes[0], /retry 1\/1/);
  },
});

// ---------------------------------------------------------------------------
// The course notebooks, in quick mode.

const notebooks = await listNotebooks();
for (const path of notebooks) {
  const name = basename(path);
  Deno.test({
    name: `notebook ${name} runs in quick mode with its committed kinds of outputs`,
    ignore: skipKernel,
    async fn() {
      const { python } = await ready();
      await runNotebook(path, {
        output: join(TEST_OUT, name),
        quick: true,
        python,
      });
    },
  });
}
