/**
 * `deno fmt --check` and `deno lint` hold for the whole repository, as tests, so CI runs them.
 * Notebooks are excluded from `deno fmt` (deno.json) and formatted by `deno task fmt:notebooks`
 * (scripts/fmt_notebooks.ts says why); here each must be byte for byte what `deno fmt` makes of
 * it.
 */
import assert from "node:assert/strict";
import { courseNotebooks, formatNotebook, sameBytes } from "../scripts/fmt_notebooks.ts";

const root = new URL("../", import.meta.url);

async function deno(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, text: text(out.stderr) + text(out.stdout) };
}

Deno.test("deno fmt --check: every file is formatted (notebooks excluded, see below)", async () => {
  const r = await deno(["fmt", "--check"]);
  assert.equal(r.code, 0, r.text);
});

Deno.test("fmt:notebooks: every notebook is byte for byte what deno fmt makes of it", async () => {
  const files = await courseNotebooks();
  assert.ok(files.length >= 9, `only ${files.length} notebooks found`);
  const unformatted: string[] = [];
  for (const path of files) {
    const bytes = await Deno.readFile(new URL(path, root));
    if (!sameBytes(bytes, await formatNotebook(bytes))) unformatted.push(path);
  }
  assert.deepEqual(unformatted, [], "run `deno task fmt:notebooks`");
});

Deno.test("deno lint: no problems anywhere", async () => {
  const r = await deno(["lint"]);
  assert.equal(r.code, 0, r.text);
});
