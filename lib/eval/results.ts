/**
 * Results files: each notebook records its headline measurements in
 * `notebooks/results/<notebook>.json` when it runs in full mode; quick mode writes under
 * `out/quick/results/` and never over the committed file. The summary chapter and the prose
 * checks read these files, so no number is typed twice.
 *
 * ```ts
 * import { writeResults } from "../lib/eval/results.ts";
 *
 * await writeResults("06b_gpt3_induction_heads", [{
 *   id: "icl.mapping_acc_k16",
 *   claim: "a rule that exists only in the context is learned from K = 16 demonstrations",
 *   value: 0.84,
 *   unit: "accuracy",
 *   spread: 0.05,
 *   seeds: 3,
 *   baseline: { label: "label space only", value: 0.33 },
 *   verdict: "reproduced",
 * }], { quick: false });
 * ```
 *
 * @module
 */
import { writeFileAtomic } from "../io/atomic.ts";

/** How a measurement compares with the paper's claim, as the measurement says. */
export type Verdict = "reproduced" | "partly" | "not at this scale" | "contradicted";

/** The verdicts a result may carry. */
export const VERDICTS: readonly Verdict[] = [
  "reproduced",
  "partly",
  "not at this scale",
  "contradicted",
];

/** One measured claim. */
export interface ResultEntry {
  /** Stable, dotted, lower case (`paper_part.what`). */
  id: string;
  /** The claim in one line (with the reason when `value` is null). */
  claim: string;
  /** The measurement, or null when it could not be made. */
  value: number | null;
  /** What the value counts (accuracy, nats, ratio, …). */
  unit: string;
  /** Sample standard deviation over seeds. */
  spread?: number;
  /** Number of seeds behind value and spread. */
  seeds?: number;
  /** What the value is compared with. */
  baseline?: { label: string; value: number | null };
  /** The paper's figure, where there is one. */
  paper?: { source: string; value: number | null };
  /** The verdict. */
  verdict: Verdict;
  /** Anything a reader needs to interpret the value. */
  notes?: string;
}

/** A notebook's results file. */
export interface ResultsFile {
  /** The notebook's file name without `.ipynb`. */
  notebook: string;
  /** Always "full" for committed files. */
  mode: "full" | "quick";
  /** One entry per claim the notebook tests. */
  results: ResultEntry[];
}

/** A results file that does not follow the format; the message names the entry and field. */
export class ResultsFormatError extends Error {
  /** Creates the error. */
  constructor(where: string, message: string) {
    super(`bad results file ${where}: ${message}`);
    this.name = "ResultsFormatError";
  }
}

const ID = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;
const ENTRY_KEYS = new Set([
  "id",
  "claim",
  "value",
  "unit",
  "spread",
  "seeds",
  "baseline",
  "paper",
  "verdict",
  "notes",
]);

/** Checks a parsed results file against the format and returns it typed. */
export function validateResults(data: unknown, where = "<results>"): ResultsFile {
  const fail = (message: string): never => {
    throw new ResultsFormatError(where, message);
  };
  if (typeof data !== "object" || data === null || Array.isArray(data)) fail("not an object");
  const file = data as Record<string, unknown>;
  if (typeof file.notebook !== "string" || file.notebook === "") fail("notebook must be a name");
  if (file.mode !== "full" && file.mode !== "quick") fail(`mode must be "full" or "quick"`);
  if (!Array.isArray(file.results) || file.results.length === 0) {
    fail("results must be a non-empty list");
  }
  const seen = new Set<string>();
  const isNumberOrNull = (v: unknown) => v === null || (typeof v === "number" && isFinite(v));
  for (const [i, raw] of (file.results as unknown[]).entries()) {
    const at = `results[${i}]`;
    if (typeof raw !== "object" || raw === null) fail(`${at} is not an object`);
    const e = raw as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (!ENTRY_KEYS.has(key)) fail(`${at}: unknown field "${key}"`);
    }
    if (typeof e.id !== "string" || !ID.test(e.id)) {
      fail(`${at}.id must be dotted lower case (e.g. "icl.mapping_acc_k16"), got ${e.id}`);
    }
    const id = e.id as string;
    if (seen.has(id)) fail(`${at}: duplicate id "${id}"`);
    seen.add(id);
    if (typeof e.claim !== "string" || e.claim.trim() === "") fail(`${id}: claim must be text`);
    if (!isNumberOrNull(e.value)) fail(`${id}: value must be a finite number or null`);
    if (typeof e.unit !== "string") fail(`${id}: unit must be text`);
    if (!VERDICTS.includes(e.verdict as Verdict)) {
      fail(
        `${id}: verdict must be one of ${VERDICTS.join(", ")}; got ${JSON.stringify(e.verdict)}`,
      );
    }
    if (e.spread !== undefined && !(typeof e.spread === "number" && e.spread >= 0)) {
      fail(`${id}: spread must be a number ≥ 0`);
    }
    if (e.seeds !== undefined && !(Number.isInteger(e.seeds) && (e.seeds as number) >= 1)) {
      fail(`${id}: seeds must be an integer ≥ 1`);
    }
    for (const key of ["baseline", "paper"] as const) {
      const ref = e[key] as Record<string, unknown> | undefined;
      if (ref === undefined) continue;
      const name = key === "baseline" ? "label" : "source";
      if (typeof ref !== "object" || ref === null || typeof ref[name] !== "string") {
        fail(`${id}: ${key} must be { ${name}: text, value: number | null }`);
      }
      if (!isNumberOrNull(ref.value)) fail(`${id}: ${key}.value must be a finite number or null`);
    }
    if (e.notes !== undefined && typeof e.notes !== "string") fail(`${id}: notes must be text`);
  }
  return file as unknown as ResultsFile;
}

/** Where a notebook's results file lives in full mode (committed) or quick mode (not). */
export function resultsPath(notebook: string, quick: boolean): URL {
  if (!/^[\w.-]+$/.test(notebook)) throw new Error(`resultsPath: bad notebook name "${notebook}"`);
  const dir = quick ? "../../out/quick/results/" : "../../notebooks/results/";
  return new URL(`${dir}${notebook}.json`, import.meta.url);
}

/**
 * Validates and writes a notebook's results file (atomically): `notebooks/results/` in full
 * mode, `out/quick/results/` in quick mode. Returns the path written.
 */
export async function writeResults(
  notebook: string,
  results: ResultEntry[],
  options: { quick: boolean },
): Promise<string> {
  const file = validateResults(
    { notebook, mode: options.quick ? "quick" : "full", results },
    notebook,
  );
  const url = resultsPath(notebook, options.quick);
  const path = decodeURIComponent(url.pathname);
  await Deno.mkdir(new URL(".", url), { recursive: true });
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(file, null, 2) + "\n"));
  return path;
}

/** Reads and validates a results file. */
export async function readResults(path: string | URL): Promise<ResultsFile> {
  const where = String(path);
  let data: unknown;
  try {
    data = JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    throw new ResultsFormatError(where, (err as Error).message);
  }
  return validateResults(data, where);
}
