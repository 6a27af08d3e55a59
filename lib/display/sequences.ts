/**
 * Token sequences drawn as rows of boxes: ordinary text in one box per run, special tokens
 * (`Start`, `Delim`, `Extract`, …) as coloured chips. HTML for notebooks, plain text for
 * terminals and tests.
 *
 * @module
 */
import type { MimeBundle } from "./jupyter.ts";

/** One piece of a sequence: a run of text, or a special token. */
export interface SequenceSegment {
  /** The text (for a special token, its name). */
  text: string;
  /** Whether this is a special token. */
  special: boolean;
}

/** One labelled sequence. */
export interface SequenceRow {
  /** Shown left of the sequence (e.g. the task name). */
  label: string;
  /** Its segments in order. */
  segments: SequenceSegment[];
  /** Shown right of the sequence (e.g. the target class). */
  note?: string;
}

const SPECIAL_COLORS: Record<string, string> = {
  Start: "#2b8a3e",
  Delim: "#e67700",
  Extract: "#c2255c",
};

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** Renders sequences as one MIME bundle (`text/html` + `text/plain`). */
export function sequenceBundle(rows: SequenceRow[], title?: string): MimeBundle {
  const chip = (s: SequenceSegment) =>
    s.special
      ? `<span style="background:${
        SPECIAL_COLORS[s.text] ?? "#5f3dc4"
      };color:white;border-radius:4px;padding:1px 5px;margin:1px;font-weight:bold">${
        escapeHtml(s.text)
      }</span>`
      : `<span style="background:#f1f3f5;border:1px solid #ced4da;border-radius:4px;` +
        `padding:1px 4px;margin:1px;white-space:pre-wrap">${escapeHtml(s.text)}</span>`;
  const trs = rows.map((r) =>
    `<tr><td style="text-align:left;vertical-align:top;white-space:nowrap"><b>${
      escapeHtml(r.label)
    }</b></td><td style="text-align:left;font-family:monospace;line-height:1.9">${
      r.segments.map(chip).join("")
    }</td><td style="text-align:left;vertical-align:top">${escapeHtml(r.note ?? "")}</td></tr>`
  ).join("");
  const caption = title ? `<caption>${escapeHtml(title)}</caption>` : "";
  const html = `<table>${caption}<tbody>${trs}</tbody></table>`;
  const width = Math.max(0, ...rows.map((r) => r.label.length));
  const plain = [
    ...(title ? [title] : []),
    ...rows.map((r) =>
      `${r.label.padEnd(width)}  ${
        r.segments.map((s) => s.special ? `[${s.text}]` : JSON.stringify(s.text)).join(" ")
      }${r.note ? `  → ${r.note}` : ""}`
    ),
  ].join("\n");
  return { "text/html": html, "text/plain": plain };
}
