/**
 * Just enough of the Chrome DevTools Protocol to load a page in headless
 * Chromium and evaluate a script in it, for the front-end test
 * (`browser_test.ts`). No npm package: Deno's WebSocket speaks CDP directly.
 *
 * @module
 */

/** Where Debian's `chromium` package puts the browser (override with `CHROMIUM`). */
export function chromiumPath(): string | undefined {
  const candidates = [Deno.env.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const path of candidates) {
    if (!path) continue;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** A free TCP port on loopback (bound, read and released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Polls `fn` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** A headless Chromium with one page, driven over CDP. */
export class HeadlessChromium {
  #process: Deno.ChildProcess;
  #socket?: WebSocket;
  #nextId = 1;
  #pending = new Map<number, (msg: { result?: unknown; error?: { message: string } }) => void>();

  private constructor(process: Deno.ChildProcess) {
    this.#process = process;
  }

  /**
   * Starts Chromium headless with remote debugging on a free loopback port.
   *
   * @param binary Path of the browser.
   * @param profileDir An empty folder for the browser profile.
   */
  static async launch(binary: string, profileDir: string): Promise<HeadlessChromium> {
    const port = freePort();
    const process = new Deno.Command(binary, {
      args: [
        "--headless=new",
        "--no-sandbox", // CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=1280,2000",
        `--user-data-dir=${profileDir}`,
        `--remote-debugging-port=${port}`,
        "--remote-debugging-address=127.0.0.1",
        "about:blank",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const browser = new HeadlessChromium(process);
    try {
      const page = await waitFor("Chromium's DevTools endpoint", async () => {
        const res = await fetch(`http://127.0.0.1:${port}/json/list`);
        const targets = await res.json() as { type: string; webSocketDebuggerUrl: string }[];
        return targets.find((t) => t.type === "page")?.webSocketDebuggerUrl;
      }, 20_000);
      await browser.#connect(page);
    } catch (err) {
      await browser.close();
      throw err;
    }
    return browser;
  }

  async #connect(url: string): Promise<void> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data as string);
      const done = this.#pending.get(msg.id);
      if (done) {
        this.#pending.delete(msg.id);
        done(msg);
      }
    };
    this.#socket = socket;
  }

  /** Sends one CDP command to the page and returns its result. */
  async send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#nextId++;
    const reply = await new Promise<{ result?: unknown; error?: { message: string } }>(
      (resolve) => {
        this.#pending.set(id, resolve);
        this.#socket!.send(JSON.stringify({ id, method, params }));
      },
    );
    if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
    return reply.result;
  }

  /** Navigates the page to `url`. */
  async open(url: string): Promise<void> {
    await this.send("Page.navigate", { url });
  }

  /** Evaluates an expression in the page (promises awaited) and returns its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (result.exceptionDetails) {
      const d = result.exceptionDetails;
      throw new Error(`in the page: ${d.exception?.description ?? d.text}`);
    }
    return result.result.value as T;
  }

  /** Closes the connection and stops the browser. */
  async close(): Promise<void> {
    this.#socket?.close();
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // already gone
    }
    await this.#process.status;
  }
}
