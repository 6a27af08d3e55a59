/**
 * What a learner sees on a fresh clone: a committed notebook opened, untrusted,
 * in the real classic Notebook server, rendered by headless Chromium. Every
 * plot output must be displayed as an image of non-zero size, and no output
 * may show raw markup (inline SVG stripped to its labels, markdown source).
 *
 * The same notebook's nbconvert HTML export is checked the same way.
 *
 * Needs Debian's `chromium` and `jupyter-notebook` (`.ci/run` installs both);
 * without them the test is skipped with a message.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../scripts/course.ts";
import { PLOTLY_MIME } from "../lib/display/mod.ts";
import { chromiumPath, freePort, HeadlessChromium, waitFor } from "./browser_support.ts";

const NOTEBOOK = "01_gpt1_pretraining.ipynb";

function notebookServer(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const path = join(dir, "jupyter-notebook");
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

const chromium = chromiumPath();
const server = notebookServer();
const missing = [!chromium && "chromium", !server && "jupyter-notebook"].filter(Boolean);
if (missing.length > 0) {
  console.error(
    `browser_test: skipped, ${missing.join(" and ")} not installed (.ci/run installs them)`,
  );
}

/** What the page reports about each output area. */
interface RenderedOutput {
  classes: string;
  text: string;
  images: { src: string; naturalWidth: number; width: number; height: number }[];
  listItems: number;
}

Deno.test({
  name: "an untrusted committed notebook shows every plot as an image in the classic Notebook",
  ignore: missing.length > 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "course-browser-" });
    const nbDir = join(tmp, "nb");
    await Deno.mkdir(nbDir);
    await Deno.copyFile(join(REPO_ROOT, "notebooks", NOTEBOOK), join(nbDir, NOTEBOOK));
    const committed = JSON.parse(await Deno.readTextFile(join(nbDir, NOTEBOOK)));
    const outputs = committed.cells.flatMap((c: { outputs?: unknown[] }) => c.outputs ?? []) as {
      data?: Record<string, unknown>;
    }[];
    const plots = outputs.filter((o) => o.data?.[PLOTLY_MIME] !== undefined).length;
    const bulletLists = outputs.filter((o) =>
      /^- /m.test([o.data?.["text/markdown"] ?? ""].flat().join(""))
    ).length;
    assert.ok(plots >= 3, `${NOTEBOOK} should have plots (found ${plots})`);

    const port = freePort();
    // Fresh Jupyter folders: a new trust database (so the notebook is untrusted, as after a
    // clone) and no kernel specs (nothing is executed; the page only renders saved outputs).
    const env = {
      JUPYTER_DATA_DIR: join(tmp, "data"),
      JUPYTER_CONFIG_DIR: join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: join(tmp, "runtime"),
      JUPYTER_PATH: join(tmp, "data"),
    };
    const notebook = new Deno.Command(server!, {
      args: [
        "--no-browser",
        "--ip=127.0.0.1",
        `--port=${port}`,
        "--port-retries=0",
        "--allow-root",
        "--NotebookApp.token=",
        "--NotebookApp.password=",
        `--notebook-dir=${nbDir}`,
      ],
      env,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const serverLog: string[] = [];
    const logDone = notebook.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void serverLog.push(chunk) }),
    );
    let browser: HeadlessChromium | undefined;
    try {
      await waitFor("the Notebook server", async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/contents/${NOTEBOOK}?content=0`);
        await res.body?.cancel();
        return res.ok ? true : undefined;
      }, 30_000).catch((err) => {
        throw new Error(`${err.message}\n${serverLog.join("")}`);
      });
      browser = await HeadlessChromium.launch(chromium!, join(tmp, "chrome"));
      await browser.open(`http://127.0.0.1:${port}/notebooks/${NOTEBOOK}`);
      await waitFor("the notebook to render", () =>
        browser!.evaluate<boolean | undefined>(
          `(window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded) || undefined`,
        ), 30_000);
      const page = await browser.evaluate<{ trusted: boolean; outputs: RenderedOutput[] }>(
        `(async () => {
        await Promise.all([...document.images].map((img) => img.complete ? null :
          new Promise((done) => { img.onload = img.onerror = done; })));
        return {
          trusted: Jupyter.notebook.trusted,
          outputs: [...document.querySelectorAll(".output_subarea")].map((el) => ({
            classes: el.className,
            text: el.innerText.slice(0, 400),
            images: [...el.querySelectorAll("img")].map((img) => {
              const r = img.getBoundingClientRect();
              return { src: img.src.slice(0, 30), naturalWidth: img.naturalWidth,
                width: r.width, height: r.height };
            }),
            listItems: el.querySelectorAll("li").length,
          })),
        };
      })()`,
      );

      assert.equal(page.trusted, false, "the notebook must be opened untrusted, as after a clone");
      const shown = page.outputs.filter((o) =>
        o.images.some((i) =>
          i.src.startsWith("data:image/svg+xml") && i.naturalWidth > 0 && i.width > 0 &&
          i.height > 0
        )
      );
      assert.equal(
        shown.length,
        plots,
        `${plots} plot outputs, ${shown.length} displayed as images:\n` +
          page.outputs.map((o) =>
            `${o.classes}: ${JSON.stringify(o.images)} ${o.text.slice(0, 80)}`
          )
            .join("\n"),
      );
      // Raw markup in any rich output: tags, markdown emphasis, bullet source.
      for (const o of page.outputs.filter((o) => !/output_stream/.test(o.classes))) {
        assert.doesNotMatch(
          o.text,
          /<\/?(svg|div|img|table|ul|li|p|text|g)\b|\*\*|^\s*- /m,
          o.text,
        );
      }
      // The markdown summaries arrive as HTML lists, not as their source.
      const lists = page.outputs.filter((o) => o.listItems > 0).length;
      assert.equal(lists, bulletLists, `${bulletLists} markdown lists, ${lists} rendered as lists`);

      // The nbconvert HTML export (what `deno task course` writes to out/), opened from disk
      // with no network: every plot is an image there too.
      const exported = join(tmp, "export.html");
      const convert = await new Deno.Command("jupyter", {
        args: ["nbconvert", "--to", "html", "--output", exported, join(nbDir, NOTEBOOK)],
        env,
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(convert.code, 0, new TextDecoder().decode(convert.stderr));
      await browser.open(`file://${exported}`);
      const images = await waitFor("the exported page", () =>
        browser!.evaluate<number | undefined>(`(async () => {
          if (document.readyState !== "complete") return undefined;
          const imgs = [...document.querySelectorAll(".jp-OutputArea-output img, .output_html img")];
          await Promise.all(imgs.map((img) => img.complete ? null :
            new Promise((done) => { img.onload = img.onerror = done; })));
          return imgs.filter((img) => img.src.startsWith("data:image/svg+xml") &&
            img.naturalWidth > 0 && img.getBoundingClientRect().width > 0).length;
        })()`), 20_000);
      assert.equal(images, plots, `the HTML export shows ${images} of ${plots} plots as images`);
    } finally {
      await browser?.close();
      try {
        notebook.kill("SIGTERM");
      } catch {
        // already gone
      }
      await notebook.status;
      await logDone.catch(() => {});
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
