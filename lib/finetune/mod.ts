/**
 * Fine-tuning a pre-trained GPT on labelled tasks, as GPT-1 does: special tokens and input
 * formats, a linear task head on the `[Extract]` state, the L3 = L2 + λ·L1 objective, and the
 * training loop.
 *
 * @module
 */
export * from "./tokens.ts";
export * from "./formats.ts";
export * from "./head.ts";
export * from "./objective.ts";
export * from "./trainer.ts";
export * from "./jobs.ts";
