/**
 * Cursors of the list methods (`conversation.list`, `task.list`): opaque to clients, they carry
 * the offset of the next page.
 */

/** The offset a cursor stands for; 0 for none or for one that is not ours. */
export function offsetOf(cursor: string | undefined): number {
  return cursor === undefined ? 0 : Math.max(0, Number.parseInt(cursor, 10) || 0);
}

/** The cursor of the page after `limit` items from `offset`, or `null` when nothing follows. */
export function cursorAfter(offset: number, limit: number, more: boolean): string | null {
  return more ? String(offset + limit) : null;
}
