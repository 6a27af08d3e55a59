/**
 * The library's layout rules, checked on the source: every folder of lib/ has a mod.ts, no
 * file is longer than about 500 lines (the generated wasm embedding aside), and no module
 * imports itself back through a chain of imports (type-only imports included: a cycle of
 * types still means responsibility sits in the wrong file).
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), "../lib");
const GENERATED = new Set(["kernels/wasm/kernels_wasm.ts"]);
const MAX_LINES = 500;

function* tsFiles(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* tsFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

const files = [...tsFiles(LIB)].sort();
const name = (path: string) => relative(LIB, path);

Deno.test("lib/: every folder has a mod.ts", () => {
  const folders = new Set(files.map((f) => dirname(f)).filter((d) => d !== LIB));
  const missing = [...folders].filter((d) => !files.includes(join(d, "mod.ts"))).map(name);
  assert.deepEqual(missing, []);
});

Deno.test(`lib/: no file over ${MAX_LINES} lines`, () => {
  const long = files
    .filter((f) => !GENERATED.has(name(f)))
    .map((f) => ({ file: name(f), lines: Deno.readTextFileSync(f).split("\n").length }))
    .filter((f) => f.lines > MAX_LINES);
  assert.deepEqual(long, []);
});

/** The lib/ files a module imports (static imports and re-exports, type-only included). */
function imports(path: string): string[] {
  const text = Deno.readTextFileSync(path);
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)) {
    const target = resolve(dirname(path), m[1]);
    if (target.startsWith(LIB) && target.endsWith(".ts")) out.push(target);
  }
  return out;
}

Deno.test("lib/: no import cycles", () => {
  const graph = new Map(files.map((f) => [f, imports(f)]));
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      cycles.push([...stack.slice(stack.indexOf(f)), f].map(name).join(" → "));
      return;
    }
    state.set(f, "open");
    for (const g of graph.get(f) ?? []) visit(g, [...stack, f]);
    state.set(f, "done");
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});
