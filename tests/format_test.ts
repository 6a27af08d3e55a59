/**
 * `deno fmt` and `deno lint` hold for the whole repository, as a test, so CI runs them.
 *
 * Notebooks are checked another way. `deno fmt --check` reports a correctly formatted `.ipynb`
 * as unformatted, with an empty diff, until `deno fmt` has run over it once on that machine
 * (its formatter returns a text for notebooks even when nothing changed, and only the
 * incremental cache of a previous `deno fmt` hides that; the same class of bug as
 * denoland/deno#25840 for YAML and HTML). So notebooks are excluded from `--check` and compared
 * byte for byte with what `deno fmt` makes of them instead: formatting from standard input
 * never consults that cache.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

async function deno(args: string[], stdin?: Uint8Array) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: out.stdout, stderr: text(out.stderr) + text(out.stdout) };
}

/** Every notebook the repository formats: the chapters and the test fixtures. */
async function notebooks(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of ["notebooks", "tests/fixtures"]) {
    for await (const f of Deno.readDir(new URL(`${dir}/`, root))) {
      if (f.isFile && f.name.endsWith(".ipynb")) found.push(`${dir}/${f.name}`);
    }
  }
  return found.sort();
}

Deno.test("deno fmt --check: every file but the notebooks is formatted", async () => {
  const ignore = (await notebooks()).join(",");
  const r = await deno(["fmt", "--check", `--ignore=${ignore}`]);
  assert.equal(r.code, 0, r.stderr);
});

Deno.test("deno fmt: every notebook is byte for byte what deno fmt makes of it", async () => {
  const files = await notebooks();
  assert.ok(files.length >= 9, `only ${files.length} notebooks found`);
  const unformatted: string[] = [];
  for (const path of files) {
    const bytes = await Deno.readFile(new URL(path, root));
    const r = await deno(["fmt", "--ext", "ipynb", "-"], bytes);
    assert.equal(r.code, 0, `${path}: ${r.stderr}`);
    if (r.stdout.length !== bytes.length || r.stdout.some((b, i) => b !== bytes[i])) {
      unformatted.push(path);
    }
  }
  assert.deepEqual(unformatted, [], "run `deno fmt` on these notebooks");
});

Deno.test("deno lint: no problems anywhere", async () => {
  const r = await deno(["lint"]);
  assert.equal(r.code, 0, r.stderr);
});
