/**
 * Jupyter MIME bundles for text: tables ({@linkcode tableBundle}: HTML, markdown and aligned plain
 * text) and the short markdown summaries at the end of each notebook
 * ({@linkcode markdownBundle}: markdown, the same as HTML, and plain text).
 *
 * @module
 */

import type { MimeBundle } from "./jupyter.ts";

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/** A table cell value. */
export type Cell = string | number;

/** Options for {@linkcode tableBundle}. */
export interface TableOptions {
  /** Column order (default: keys in order of first appearance). */
  columns?: string[];
  /** Caption shown above the table. */
  title?: string;
  /** Significant digits for non-integer numbers (default 4). */
  digits?: number;
}

/**
 * Formats a table cell: integers with thousands separators, other numbers
 * with `digits` significant digits (scientific below 1e-3).
 *
 * @param v The value.
 * @param digits Significant digits for non-integers (default 4).
 * @returns The cell text.
 */
export function formatCell(v: Cell | undefined, digits = 4): string {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) {
    return Math.abs(v) >= 10000 ? v.toLocaleString("en-US") : String(v);
  }
  if (Math.abs(v) >= 10000) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) < 1e-3) return v.toExponential(Math.max(0, digits - 2));
  return v.toPrecision(digits);
}

/** Escapes `&`, `<`, `>` and `"` for HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function escapeMarkdown(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/**
 * Builds a table MIME bundle (`text/html`, `text/markdown`, `text/plain`).
 * Numeric columns are right-aligned.
 *
 * @example
 * ```ts
 * tableBundle([{ model: "bigram", loss: 2.45 }, { model: "GPT", loss: 1.71 }]);
 * ```
 *
 * @param rows One object per row.
 * @param opts Table options.
 * @returns The MIME bundle.
 */
export function tableBundle(
  rows: Record<string, Cell>[],
  opts: TableOptions = {},
): MimeBundle {
  const columns = opts.columns ?? [...new Set(rows.flatMap(Object.keys))];
  if (columns.length === 0) {
    const title = opts.title ? `${opts.title}: ` : "";
    return {
      "text/html": `<p>${escapeHtml(title)}(empty table)</p>`,
      "text/markdown": `${escapeMarkdown(title)}_(empty table)_`,
      "text/plain": `${title}(empty table)`,
    };
  }
  const digits = opts.digits ?? 4;
  const text = rows.map((r) => columns.map((c) => formatCell(r[c], digits)));
  const numeric = columns.map((c) =>
    rows.length > 0 &&
    rows.every((r) => r[c] === undefined || typeof r[c] === "number")
  );

  const th = columns.map((c, j) =>
    `<th style="text-align:${numeric[j] ? "right" : "left"}">${escapeHtml(c)}</th>`
  ).join("");
  const trs = text.map((cells) =>
    `<tr>${
      cells.map((t, j) =>
        `<td style="text-align:${numeric[j] ? "right" : "left"}">${escapeHtml(t)}</td>`
      ).join("")
    }</tr>`
  ).join("");
  const caption = opts.title ? `<caption>${escapeHtml(opts.title)}</caption>` : "";
  const html = `<table>${caption}<thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table>`;

  const mdHead = `| ${columns.map(escapeMarkdown).join(" | ")} |`;
  const mdRule = `|${numeric.map((n) => n ? " ---: " : " --- ").join("|")}|`;
  const mdRows = text.map((cells) => `| ${cells.map(escapeMarkdown).join(" | ")} |`);
  const markdown = [
    ...(opts.title ? [`**${escapeMarkdown(opts.title)}**`, ""] : []),
    mdHead,
    mdRule,
    ...mdRows,
  ].join("\n");

  const widths = columns.map((c, j) => Math.max(c.length, ...text.map((cells) => cells[j].length)));
  const pad = (t: string, j: number) => numeric[j] ? t.padStart(widths[j]) : t.padEnd(widths[j]);
  const plain = [
    ...(opts.title ? [opts.title] : []),
    columns.map((c, j) => pad(c, j)).join("  ").trimEnd(),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...text.map((cells) => cells.map((t, j) => pad(t, j)).join("  ").trimEnd()),
  ].join("\n");

  return { "text/html": html, "text/markdown": markdown, "text/plain": plain };
}

// ---------------------------------------------------------------------------
// Markdown (the summaries at the end of each notebook)
// ---------------------------------------------------------------------------

/** Inline markdown the summaries use: each pattern, its HTML and its plain-text replacement. */
const INLINE_MARKDOWN: [RegExp, string, string][] = [
  [/`([^`]+)`/g, "<code>$1</code>", "$1"],
  [/\*\*([^*]+)\*\*/g, "<strong>$1</strong>", "$1"],
  [/(^|[^*\w])\*([^*\s][^*]*)\*(?!\w)/g, "$1<em>$2</em>", "$1$2"],
  [/(^|[^\w])_([^_\s][^_]*)_(?!\w)/g, "$1<em>$2</em>", "$1$2"],
];

/** Inline markdown to HTML (`escaped` is already HTML-escaped) or to plain text without markers. */
function inline(text: string, to: "html" | "plain"): string {
  return INLINE_MARKDOWN.reduce(
    (t, [pattern, html, plain]) => t.replace(pattern, to === "html" ? html : plain),
    text,
  );
}

/**
 * Builds a MIME bundle from a short markdown text: paragraphs and `- ` bullet
 * lists with bold, italic and code spans (what the notebooks' summaries use).
 * It carries `text/markdown`, the same text as HTML (kept by untrusted front
 * ends, which drop untrusted markdown outputs) and a `text/plain` without
 * markup, with `•` bullets.
 *
 * @example
 * ```ts
 * markdownBundle("- loss **1.68** nats/char\n- 12.8 *min*");
 * ```
 *
 * @param markdown The markdown text.
 * @returns The MIME bundle.
 */
export function markdownBundle(markdown: string): MimeBundle {
  const html: string[] = [];
  const plain: string[] = [];
  let inList = false;
  for (const line of markdown.split("\n")) {
    const item = /^\s*[-*]\s+(.*)$/.exec(line);
    if (item) {
      if (!inList) html.push("<ul>");
      inList = true;
      html.push(`<li>${inline(escapeHtml(item[1]), "html")}</li>`);
      plain.push(`• ${inline(item[1], "plain")}`);
      continue;
    }
    if (inList) html.push("</ul>");
    inList = false;
    if (line.trim() === "") {
      plain.push("");
      continue;
    }
    html.push(`<p>${inline(escapeHtml(line), "html")}</p>`);
    plain.push(inline(line, "plain"));
  }
  if (inList) html.push("</ul>");
  return {
    "text/html": html.join("\n"),
    "text/markdown": markdown,
    "text/plain": plain.join("\n"),
  };
}
