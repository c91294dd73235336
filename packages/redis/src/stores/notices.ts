import * as v from "valibot";

/** A string holding JSON, parsed (an issue when it is not JSON). */
export const JSON_TEXT = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    try {
      return JSON.parse(dataset.value) as unknown;
    } catch {
      addIssue({ message: "not JSON" });
      return NEVER;
    }
  }),
);

/** A stored record of a record or task store: an object with its id. */
export const STORED_RECORD = v.looseObject({ id: v.string() });

/**
 * A change notice of a record or task store (published by their Lua scripts): the sequence number of
 * the write, the record's id, then the record's JSON (a put) or `d` (a deletion).
 */
export const RECORD_NOTICE = v.pipe(
  v.looseObject({
    v: v.pipe(v.number(), v.finite()),
    id: v.string(),
    d: v.optional(v.unknown()),
    r: v.optional(v.pipe(JSON_TEXT, STORED_RECORD)),
  }),
  v.check((notice) => notice.d !== undefined || notice.r !== undefined, "neither a record nor a deletion"),
  v.check(
    (notice) => notice.r === undefined || notice.r.id === notice.id,
    "the record's id is not the notice's",
  ),
);
