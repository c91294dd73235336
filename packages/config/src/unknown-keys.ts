import type { ConfigIssue } from "@openclaw/protocol";
import type * as v from "valibot";

/** The parts of a valibot schema the walk reads (each schema kind carries some of them). */
interface SchemaNode {
  type: string;
  entries?: Record<string, SchemaNode>;
  wrapped?: SchemaNode;
  value?: SchemaNode;
  item?: SchemaNode;
  key?: string | SchemaNode;
  options?: SchemaNode[];
  literal?: unknown;
}

/**
 * Finds keys the schema does not know, walking the schema beside the input. Closed objects
 * (`v.object`, `v.strictObject`) are strict: each key they do not declare is an issue naming it,
 * with the closest declared key as a "did you mean". Open objects (`v.looseObject`, such as
 * `channels.<name>`, whose other keys belong to the channel's plugin) check only the keys they
 * declare and pass the rest through. Records, arrays, optionals and variants are walked into, so a
 * section added to the schema is strict with no extra code.
 *
 * @param schema - The schema (e.g. `ConfigSchema`).
 * @param input - The value to check (after `${ENV}` substitution and environment overrides).
 * @returns One issue per unknown key, with its dot path (`gateway.prot`).
 *
 * @example
 * ```ts
 * unknownKeys(ConfigSchema, { gateway: { prot: 1 } });
 * // [{ path: "gateway.prot", message: 'unknown key "prot" (did you mean "port"?)' }]
 * ```
 */
export function unknownKeys(schema: v.GenericSchema, input: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  walk(schema as unknown as SchemaNode, input, [], issues);
  return issues;
}

function walk(schema: SchemaNode, input: unknown, path: string[], issues: ConfigIssue[]): void {
  switch (schema.type) {
    case "optional":
    case "exact_optional":
    case "undefinedable":
    case "nullable":
    case "nullish":
    case "non_optional":
    case "non_nullable":
    case "non_nullish":
    case "lazy":
      if (schema.wrapped !== undefined && input !== undefined && input !== null)
        walk(schema.wrapped, input, path, issues);
      return;
    case "object":
    case "strict_object":
    case "loose_object":
    case "object_with_rest": {
      if (!isRecord(input) || schema.entries === undefined) return;
      const known = Object.keys(schema.entries);
      for (const [key, value] of Object.entries(input)) {
        const entry = schema.entries[key];
        if (entry !== undefined && Object.hasOwn(schema.entries, key))
          walk(entry, value, [...path, key], issues);
        else if (schema.type === "object" || schema.type === "strict_object")
          issues.push({ path: [...path, key].join("."), message: unknownKeyMessage(key, known) });
      }
      return;
    }
    case "record":
      if (isRecord(input) && schema.value !== undefined)
        for (const [key, value] of Object.entries(input)) walk(schema.value, value, [...path, key], issues);
      return;
    case "array":
      if (Array.isArray(input) && schema.item !== undefined)
        for (const [index, item] of input.entries())
          walk(schema.item, item, [...path, String(index)], issues);
      return;
    case "variant": {
      if (!isRecord(input) || typeof schema.key !== "string" || schema.options === undefined) return;
      const discriminator = input[schema.key];
      const option = schema.options.find((candidate) => {
        const literal = unwrap(candidate.entries?.[schema.key as string]);
        return literal?.type === "literal" && literal.literal === discriminator;
      });
      // An unknown discriminator is the schema's own issue; its keys cannot be judged.
      if (option !== undefined) walk(option, input, path, issues);
      return;
    }
    default:
      return;
  }
}

function unwrap(schema: SchemaNode | undefined): SchemaNode | undefined {
  let current = schema;
  while (current?.wrapped !== undefined) current = current.wrapped;
  return current;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The message for an unknown key: `unknown key "prot" (did you mean "port"?)`, or with the known
 * keys listed when none is close.
 *
 * @param key - The unknown key.
 * @param known - The keys the object declares.
 * @returns The message.
 */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const suggestion = closest(key, known);
  if (suggestion !== undefined) return `unknown key "${key}" (did you mean "${suggestion}"?)`;
  return known.length === 0
    ? `unknown key "${key}"`
    : `unknown key "${key}" (known keys: ${known.filter((k) => k !== "$schema").join(", ")})`;
}

/**
 * The known key closest to `key`: the same but for case, else the one at the smallest edit
 * distance when it is at most a third of the key's length (at least 1, at most 3).
 *
 * @param key - What was written.
 * @param known - What could have been meant.
 * @returns The suggestion, or `undefined` when nothing is close.
 */
export function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameButCase = known.find((candidate) => candidate.toLowerCase() === lower);
  if (sameButCase !== undefined) return sameButCase;
  const limit = Math.min(3, Math.max(1, Math.floor(key.length / 3)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Number.POSITIVE_INFINITY;
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i] as number[];
      const previous = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      row[j] = value;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
