/**
 * Formats the course's notebooks: `deno task fmt:notebooks [paths…]` (default: every `.ipynb` in
 * `notebooks/` and `tests/fixtures/`), `--check` to only report.
 *
 * Why not plain `deno fmt`: `deno fmt --check` reports a correctly formatted `.ipynb` as
 * unformatted, with an empty diff, until `deno fmt` has run over it once on that machine (the
 * notebook formatter returns a text even when nothing changed; the bug class of
 * denoland/deno#25840). So deno.json excludes notebooks from `deno fmt`, and this script runs
 * each one through `deno fmt --ext ipynb -` (standard input, where that cache plays no part) and
 * writes the result back only when its bytes differ. `tests/format_test.ts` checks the same.
 *
 * @module
 */

const root = new URL("../", import.meta.url);

/** Every notebook the repository formats, relative to the root. */
export async function courseNotebooks(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of ["notebooks", "tests/fixtures"]) {
    for await (const f of Deno.readDir(new URL(`${dir}/`, root))) {
      if (f.isFile && f.name.endsWith(".ipynb")) found.push(`${dir}/${f.name}`);
    }
  }
  return found.sort();
}

/** What `deno fmt` makes of a notebook's bytes (throws with deno's message on a parse error). */
export async function formatNotebook(bytes: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "ipynb", "-"],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  const out = await child.output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return out.stdout;
}

/** Whether two byte arrays are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const paths = Deno.args.filter((a) => a !== "--check");
  const files = paths.length > 0 ? paths : await courseNotebooks();
  const changed: string[] = [];
  for (const path of files) {
    const url = new URL(path, root);
    const bytes = await Deno.readFile(url);
    const formatted = await formatNotebook(bytes);
    if (sameBytes(bytes, formatted)) continue;
    changed.push(path);
    if (!check) await Deno.writeFile(url, formatted);
  }
  const verb = check ? "not formatted" : "formatted";
  console.log(
    `${files.length} notebooks checked; ${changed.length} ${verb}${
      changed.length ? ": " + changed.join(", ") : ""
    }`,
  );
  if (check && changed.length > 0) Deno.exit(1);
}
