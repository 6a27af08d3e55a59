/**
 * `deno task lab`: open the course notebooks in Jupyter.
 *
 * Registers the Deno kernel when it is missing (`deno jupyter --install`),
 * then starts JupyterLab when it is installed, the classic Notebook otherwise,
 * in notebooks/. `--quick` starts the kernels in quick mode (GPT_COURSE_QUICK=1:
 * tiny models, a few steps, checkpoints under checkpoints/quick/). Other
 * arguments go to Jupyter, e.g. `deno task lab --no-browser --port 8899`.
 *
 * @module
 */

import {
  checkPrerequisites,
  JUPYTER_HINT,
  NOTEBOOKS_DIR,
  PrerequisiteError,
  QUICK_ENV,
  which,
} from "./course.ts";

/** The Jupyter front end to start: `jupyter lab` if available, else `jupyter notebook`. */
export async function pickFrontend(): Promise<string[] | null> {
  if (await which("jupyter-lab")) return ["jupyter", "lab"];
  if (await which("jupyter-notebook")) return ["jupyter", "notebook"];
  return null;
}

/**
 * Splits `--quick` (ours) from the arguments that go to Jupyter.
 *
 * @param args The command-line arguments.
 * @returns Whether quick mode was asked for, and Jupyter's arguments.
 */
export function parseLabArgs(args: string[]): { quick: boolean; jupyterArgs: string[] } {
  return { quick: args.includes("--quick"), jupyterArgs: args.filter((a) => a !== "--quick") };
}

/** Starts Jupyter in notebooks/ and returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  const { quick, jupyterArgs: args } = parseLabArgs(argv);
  try {
    await checkPrerequisites();
  } catch (err) {
    if (err instanceof PrerequisiteError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    throw err;
  }
  const frontend = await pickFrontend();
  if (!frontend) {
    console.error(
      `error: neither jupyter-lab nor jupyter-notebook is on PATH: ${JUPYTER_HINT}`,
    );
    return 1;
  }
  console.log(
    `Starting \`${frontend.join(" ")}\` in notebooks/ — pick the "Deno" kernel. ${
      quick
        ? "Quick mode: every notebook runs tiny models for a few steps (minutes, not hours)."
        : "Full mode: the real runs (the README gives each notebook's time); `deno task lab --quick` for short ones."
    } Ctrl-C (twice) stops it.`,
  );
  // Jupyter refuses to start as root (containers, CI) without --allow-root.
  const extra = Deno.uid() === 0 && !args.includes("--allow-root") ? ["--allow-root"] : [];
  const child = new Deno.Command(frontend[0], {
    args: [...frontend.slice(1), ...extra, ...args],
    cwd: NOTEBOOKS_DIR,
    // Kernels inherit Jupyter's environment: this is how quick mode reaches them.
    env: quick ? { [QUICK_ENV]: "1" } : {},
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches Jupyter too (same process group); let it decide when to stop.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  try {
    const { code } = await child.status;
    return code;
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
