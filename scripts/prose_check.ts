/**
 * Prose that cannot drift: every measured-looking number in a notebook's
 * markdown (a decimal such as `1.676`, or a percentage such as `54%`) must be
 * found in that notebook's own outputs, its code (settings such as `lr 0.003`)
 * or its results file, or be marked as a figure quoted from a paper by a
 * `(paper: <source>)` note later in the same sentence.
 *
 * A number matches when some number in those places rounds to it at the
 * precision the prose wrote (prose may round `0.9512` to `0.95`), as a
 * fraction or as a percentage (`0.95` ↔ `95%`); signs are ignored (prose says
 * "7.5 points lower" of a `-7.5`). Plain integers are not checked: they are
 * mostly settings, counts and list numbers.
 *
 * ```sh
 * deno run -A scripts/prose_check.ts            # every notebook; exit 1 when a number is unsupported
 * deno run -A scripts/prose_check.ts 04_gpt2    # notebooks whose name contains 04_gpt2
 * ```
 *
 * @module
 */
import { basename, join } from "node:path";
import { listNotebooks, type Notebook, REPO_ROOT } from "./course.ts";

/** A number in the prose with nothing to back it. */
export interface UnsupportedNumber {
  /** Index of the markdown cell in the notebook. */
  cell: number;
  /** The number as written. */
  text: string;
  /** The sentence around it, shortened. */
  context: string;
}

/** Decimals and percentages in prose: `1.676`, `−0.073`, `54.3%`, `95%`, `1,536.5`. */
const PROSE_NUMBER =
  /(?<![\w.^])[-−]?\d[\d,]*(?:\.\d+)?%|(?<![\w.^])[-−]?\d[\d,]*\.\d+(?![\d.]*\w)/g;
/** Any number in outputs, code or results: `1.676`, `-0.07`, `2.4e-8`, `1,536,000`, `95%`. */
const ANY_NUMBER = /[-−]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?%?/gi;
/** Durations as the course prints them: `1m18s`, `44s`, `2h05m`. */
const PROSE_DURATION =
  /(?<![\w.])\d+h\d{2}m(?![\w])|(?<![\w.])\d+m\d{2}s(?![\w])|(?<![\w.])\d+s(?![\w])/g;

/** The marker of a figure quoted from a paper: `(paper: Radford et al. 2019, Table 3)`. */
const CITATION = /\(paper: \S/;
/** The marker of a number quoted from another chapter: `(notebook 02)`. */
const CROSS_REFERENCE = /\(notebook (\d\d[a-z]?)\)/;
/** Text right before a number that makes it a reference, not a figure: "Figures 1.2 and". */
const REFERENCE_BEFORE = /(?:Figures?|Tables?|[Ss]ections?|§)\s*(?:[\d.]+\s*(?:and|,|–|-)\s*)*$/;
/** `ln 52 = ` right before a number: the number must be that logarithm. */
const LOG_BEFORE = /\bln (\d+(?:\.\d+)?) = $/;

function text_(source: string | string[]): string {
  return Array.isArray(source) ? source.join("") : source;
}

function parse(token: string): { value: number; percent: boolean } {
  const percent = token.endsWith("%");
  const value = Math.abs(Number(token.replace(/[−,%]/g, (c) => (c === "−" ? "-" : ""))));
  return { value, percent };
}

/** Everything the notebook's code cells printed or displayed as text. */
function outputText(nb: Notebook): string {
  const texts: string[] = [];
  for (const cell of nb.cells) {
    for (const out of cell.outputs ?? []) {
      if (out.text !== undefined) texts.push(text_(out.text));
      const plain = out.data?.["text/plain"];
      if (plain !== undefined) texts.push(text_(plain as string[]));
    }
  }
  return texts.join("\n");
}

/** All numbers a notebook's prose may quote: its outputs, its code and its results file. */
export function notebookNumbers(nb: Notebook, results?: unknown): number[] {
  const texts: string[] = [];
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    texts.push(text_(cell.source));
    for (const out of cell.outputs ?? []) {
      if (out.text !== undefined) texts.push(text_(out.text));
      for (const [mime, value] of Object.entries(out.data ?? {})) {
        // Plot data would match almost any number; the plot's text summary is in text/plain.
        if (mime.startsWith("text/") && mime !== "text/html") texts.push(text_(value as string[]));
        if (mime === "text/html") texts.push(text_(value as string[]).replace(/data:[^"]+/g, ""));
      }
    }
  }
  if (results !== undefined) texts.push(JSON.stringify(results));
  const values: number[] = [];
  for (const text of texts) {
    for (const m of text.matchAll(ANY_NUMBER)) {
      const { value, percent } = parse(m[0]);
      if (!Number.isFinite(value)) continue;
      values.push(value);
      if (percent) values.push(value / 100);
      else if (value <= 1) values.push(value * 100);
    }
  }
  return values;
}

function decimals(token: string): number {
  const m = /\.(\d+)/.exec(token);
  return m ? m[1].length : 0;
}

/** The sentence of `text` around offset `at`. */
function sentenceAt(text: string, at: number): { start: number; end: number } {
  const before = text.slice(0, at);
  const start = Math.max(before.lastIndexOf(". "), before.lastIndexOf("\n\n"), -1) + 1;
  const rest = text.slice(at);
  // A full stop ends the sentence when a capital follows ("et al. 2018" does not end one).
  const stops = [rest.search(/\.\s+(?=[A-Z*_])/), rest.search(/\n\n/)].filter((i) => i >= 0);
  const end = at + (stops.length > 0 ? Math.min(...stops) : rest.length);
  return { start, end };
}

/**
 * The numbers in a notebook's markdown that nothing backs.
 *
 * @param nb The notebook (with its committed outputs).
 * @param results Its results file, if it has one.
 * @returns One entry per unsupported number, in order.
 */
export function unsupportedNumbers(
  nb: Notebook,
  results?: unknown,
  other: (notebook: string) => number[] = () => [],
): UnsupportedNumber[] {
  const known = notebookNumbers(nb, results);
  const found: UnsupportedNumber[] = [];
  const backed = (token: string, pool: number[]) => {
    const { value, percent } = parse(token);
    const tol = 0.5 / 10 ** decimals(token) + 1e-9;
    // As written (rounded at the prose's precision), or a percentage as a fraction.
    return pool.some((k) => Math.abs(k - value) <= tol) ||
      (percent && pool.some((k) => Math.abs(k - value / 100) <= tol / 100));
  };
  const printed = outputText(nb);
  nb.cells.forEach((cell, index) => {
    if (cell.cell_type !== "markdown") return;
    const text = text_(cell.source);
    for (const m of text.matchAll(PROSE_DURATION)) {
      if (new RegExp(`(?<![\\w.])${m[0]}(?![\\w])`).test(printed)) continue;
      const { start, end } = sentenceAt(text, m.index!);
      if (
        CITATION.test(text.slice(m.index!, end)) || CROSS_REFERENCE.test(text.slice(m.index!, end))
      ) {
        continue;
      }
      found.push({
        cell: index,
        text: m[0],
        context: text.slice(start, end).replace(/\s+/g, " ").trim().slice(0, 160),
      });
    }
    for (const m of text.matchAll(PROSE_NUMBER)) {
      const at = m.index!;
      const { start, end } = sentenceAt(text, at);
      // A marker covers the numbers of its own clause: "86.5, 82.1 and 76.0 (paper: …)", but not
      // the 95.1% of "reaches 95.1%, where notebook 02 reached 91.6% (notebook 02)".
      const sentence = text.slice(at, end);
      const clause = /[,;]\s+(?=[^\d\s−-])/.exec(sentence.slice(m[0].length));
      const after = clause ? sentence.slice(0, m[0].length + clause.index) : sentence;
      const before = text.slice(Math.max(0, at - 40), at);
      if (CITATION.test(after) || REFERENCE_BEFORE.test(before)) continue;
      const log = LOG_BEFORE.exec(before);
      if (
        log && Math.abs(Math.log(Number(log[1])) - parse(m[0]).value) <= 0.5 / 10 ** decimals(m[0])
      ) {
        continue;
      }
      const cross = CROSS_REFERENCE.exec(after);
      if (backed(m[0], cross ? other(cross[1]) : known)) continue;
      const context = text.slice(start, end).replace(/\s+/g, " ").trim();
      found.push({
        cell: index,
        text: m[0],
        context: context.length > 160 ? context.slice(0, 159) + "…" : context,
      });
    }
  });
  return found;
}

/**
 * The numbers of the notebook whose name starts with `prefix` (e.g. `"02"`), for
 * `(notebook 02)` references; empty when there is none.
 */
export function numbersOfNotebook(prefix: string): number[] {
  const dir = join(REPO_ROOT, "notebooks");
  const names = [...Deno.readDirSync(dir)].map((e) => e.name)
    .filter((n) => n.endsWith(".ipynb") && n.startsWith(`${prefix}_`));
  if (names.length !== 1) return [];
  const name = basename(names[0], ".ipynb");
  const nb = JSON.parse(Deno.readTextFileSync(join(dir, names[0]))) as Notebook;
  return notebookNumbers(nb, readResultsFile(name));
}

/** Reads a notebook's committed results file, if any. */
export function readResultsFile(name: string): unknown | undefined {
  try {
    return JSON.parse(
      Deno.readTextFileSync(join(REPO_ROOT, "notebooks", "results", `${name}.json`)),
    );
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

if (import.meta.main) {
  let bad = 0;
  const paths = (await listNotebooks()).filter((p) =>
    Deno.args.length === 0 || Deno.args.some((a) => basename(p).includes(a))
  );
  for (const path of paths) {
    const name = basename(path, ".ipynb");
    const nb = JSON.parse(await Deno.readTextFile(path)) as Notebook;
    for (const u of unsupportedNumbers(nb, readResultsFile(name), numbersOfNotebook)) {
      bad++;
      console.log(`${name} cell #${u.cell + 1}: ${u.text} — ${u.context}`);
    }
  }
  console.log(bad === 0 ? "every number in the prose is backed" : `${bad} unsupported number(s)`);
  Deno.exit(bad === 0 ? 0 : 1);
}
