/** A min-heap of (time, id) pairs: which task is due first. Stale pairs are skipped by the caller. */
export class DueHeap {
  readonly #times: number[] = [];
  readonly #ids: string[] = [];

  get size(): number {
    return this.#times.length;
  }

  push(time: number, id: string): void {
    this.#times.push(time);
    this.#ids.push(id);
    let i = this.#times.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#times[parent]! <= time) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  /** The earliest time, or `undefined` when empty. */
  peekTime(): number | undefined {
    return this.#times[0];
  }

  /** Removes and returns the earliest pair. */
  pop(): [number, string] | undefined {
    if (this.#times.length === 0) return undefined;
    const top: [number, string] = [this.#times[0]!, this.#ids[0]!];
    const lastTime = this.#times.pop()!;
    const lastId = this.#ids.pop()!;
    if (this.#times.length > 0) {
      this.#times[0] = lastTime;
      this.#ids[0] = lastId;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < this.#times.length && this.#times[left]! < this.#times[smallest]!) smallest = left;
        if (right < this.#times.length && this.#times[right]! < this.#times[smallest]!) smallest = right;
        if (smallest === i) break;
        this.#swap(i, smallest);
        i = smallest;
      }
    }
    return top;
  }

  clear(): void {
    this.#times.length = 0;
    this.#ids.length = 0;
  }

  #swap(a: number, b: number): void {
    [this.#times[a], this.#times[b]] = [this.#times[b]!, this.#times[a]!];
    [this.#ids[a], this.#ids[b]] = [this.#ids[b]!, this.#ids[a]!];
  }
}
