/**
 * Prose that cannot drift (scripts/prose_check.ts): the checker on small
 * notebooks, then every committed notebook.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { listNotebooks, type Notebook } from "../scripts/course.ts";
import { numbersOfNotebook, readResultsFile, unsupportedNumbers } from "../scripts/prose_check.ts";

function notebook(markdown: string, printed: string, code = ""): Notebook {
  return {
    cells: [
      { cell_type: "markdown", source: markdown },
      {
        cell_type: "code",
        source: code,
        outputs: [{ output_type: "stream", name: "stdout", text: printed }],
      },
    ],
  };
}

const flagged = (nb: Notebook, results?: unknown, other?: (n: string) => number[]) =>
  unsupportedNumbers(nb, results, other).map((u) => u.text);

Deno.test("prose check: numbers must come from the outputs, the code or the results file", () => {
  assert.deepEqual(flagged(notebook("Loss fell to 1.676 nats.", "val 1.676\n")), []);
  // Rounding at the prose's precision is fine; another value is not.
  assert.deepEqual(flagged(notebook("Loss fell to 1.68 nats.", "val 1.676\n")), []);
  assert.deepEqual(flagged(notebook("Loss fell to 1.66 nats.", "val 1.676\n")), ["1.66"]);
  // Percentages and fractions are the same number; signs are ignored.
  assert.deepEqual(flagged(notebook("Accuracy 95.4% and 0.31.", "acc 0.954, 31.0%\n")), []);
  assert.deepEqual(flagged(notebook("It fell by 0.073.", "score −0.073\n")), []);
  // Settings in the code, and values in the results file, count.
  assert.deepEqual(flagged(notebook("At lr 0.003 it trains.", "done\n", "const lr = 0.003;")), []);
  assert.deepEqual(
    flagged(notebook("The score is 0.90.", "done\n"), { claims: [{ value: 0.9 }] }),
    [],
  );
  // Plain integers, figure and section numbers are not measurements.
  assert.deepEqual(flagged(notebook("See Figure 1.2 and §2.3, 12 blocks.", "x\n")), []);
  // Durations must be printed as written: they change with every run.
  assert.deepEqual(flagged(notebook("It took 1m14s and 41s.", "trained in 1m14s; 41s\n")), []);
  assert.deepEqual(flagged(notebook("It took 1m18s.", "trained in 1m14s\n")), ["1m18s"]);
  // ln N = x is computed.
  assert.deepEqual(flagged(notebook("Uniform guessing: ln 52 = 3.95 nats.", "x\n")), []);
  assert.deepEqual(flagged(notebook("Uniform guessing: ln 52 = 3.85 nats.", "x\n")), ["3.85"]);
});

Deno.test("prose check: paper figures need a (paper: …) source, other chapters a (notebook NN)", () => {
  assert.deepEqual(flagged(notebook("GPT-1 reached 86.5 and 82.1 there.", "x\n")), [
    "86.5",
    "82.1",
  ]);
  assert.deepEqual(
    flagged(
      notebook("GPT-1 reached 86.5, 82.1 and 76.0 (paper: Radford et al. 2018, Table 2).", "x\n"),
    ),
    [],
  );
  const other = (n: string) => (n === "02" ? [0.916] : []);
  assert.deepEqual(
    flagged(notebook("Notebook 02 reached 91.6% (notebook 02).", "x\n"), undefined, other),
    [],
  );
  assert.deepEqual(
    flagged(notebook("Notebook 02 reached 92.6% (notebook 02).", "x\n"), undefined, other),
    [
      "92.6%",
    ],
  );
  // A marker covers its own clause only.
  assert.deepEqual(
    flagged(
      notebook("This reaches 95.1%, where notebook 02 reached 91.6% (notebook 02).", "x\n"),
      undefined,
      other,
    ),
    ["95.1%"],
  );
});

Deno.test("every number in the committed notebooks' prose is backed by their outputs", async () => {
  const problems: string[] = [];
  for (const path of await listNotebooks()) {
    const name = basename(path, ".ipynb");
    const nb = JSON.parse(await Deno.readTextFile(path)) as Notebook;
    for (const u of unsupportedNumbers(nb, readResultsFile(name), numbersOfNotebook)) {
      problems.push(`${name} cell #${u.cell + 1}: ${u.text} in "${u.context}"`);
    }
  }
  assert.deepEqual(
    problems,
    [],
    `numbers in the prose that no output backs:\n${problems.join("\n")}`,
  );
});
