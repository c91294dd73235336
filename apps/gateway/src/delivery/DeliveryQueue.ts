import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type {
  DeliveryCounts,
  DeliveryInput,
  DeliveryListFilter,
  DeliveryQueueHost,
  DeliveryRecord,
  FirstOutcome,
  OutboundQueue,
  RecordStore,
  RecordStoreFactory,
} from "@openclaw/backend";
import { ChannelError, type SendResult, toChannelError } from "@openclaw/channel-sdk";
import type { Delivery } from "@openclaw/protocol";
import type { RecordLogStats } from "@openclaw/record-log";
import { context, ROOT_CONTEXT } from "@opentelemetry/api";
import { FileRecordStore } from "../state/FileRecordStore";
import { stateWriteFailed } from "../state/files";

/** Channel errors worth another attempt: the platform may take the message later. */
const RETRYABLE = new Set(["RATE_LIMITED", "PLATFORM_UNAVAILABLE", "NOT_READY", "AUTH_FAILED"]);

interface Lane {
  /** Pending delivery ids, in `seq` order. */
  ids: string[];
  timer?: ReturnType<typeof setTimeout> | undefined;
  running: boolean;
  /** Set when the journal failed: the lane waits until then before its next attempt. */
  pausedUntil?: number;
}

/** How long a lane waits after its journal could not be written. */
const JOURNAL_FAILURE_PAUSE_MS = 1000;

/**
 * The outbound delivery queue: every message is stored (fsync'd) before anything is sent, tried at
 * once, and when the platform is down or rate limited, tried again with exponential backoff (a
 * platform's retry-after wins when longer) until it is delivered or `maxAttempts` is reached, when
 * it moves to the dead-letter list. Messages to one address (a lane) go out in the order they were
 * queued: a later message waits while an earlier one is being retried. A gateway restart picks up
 * every stored message and tries each address's next one at once. Each attempt hands the plugin the delivery id as its idempotency key.
 */
export class DeliveryQueue implements OutboundQueue {
  readonly #log: RecordStore<DeliveryRecord>;
  /** Where the records are, for errors (`deliveries.log` in the state dir for the file store). */
  readonly #file: string;
  readonly #host: DeliveryQueueHost;
  readonly #lanes = new Map<string, Lane>();
  readonly #waiters = new Map<
    string,
    (outcome: FirstOutcome | { status: "failed"; error: ChannelError }) => void
  >();
  #seq = 0;
  #closed = false;

  private constructor(log: RecordStore<DeliveryRecord>, file: string, host: DeliveryQueueHost) {
    this.#log = log;
    this.#file = file;
    this.#host = host;
    for (const record of [...log.values()].sort((a, b) => a.seq - b.seq)) {
      this.#seq = Math.max(this.#seq, record.seq);
      if (record.status === "pending") this.#lane(record).ids.push(record.id);
    }
  }

  /** Facts about the journal (skipped lines among them), when the store keeps one. */
  get journal(): RecordLogStats | undefined {
    return this.#log.journal;
  }

  /**
   * Opens the queue's store (`deliveries`) and resumes every stored message.
   *
   * @param dir - The state dir.
   * @param host - How to send, the config, and what to tell about outcomes.
   * @param openStore - Opens where the messages are kept (by default `FileRecordStore.open`:
   *   `deliveries.log` in the state dir).
   */
  static async open(
    dir: string,
    host: DeliveryQueueHost,
    openStore: RecordStoreFactory<DeliveryRecord> = FileRecordStore.open<DeliveryRecord>,
  ): Promise<DeliveryQueue> {
    const store = await openStore({ stateDir: dir, name: "deliveries" });
    const queue = new DeliveryQueue(store, join(dir, "deliveries.log"), host);
    // After a restart every lane is tried at once: the platform may well be back.
    for (const lane of queue.#lanes.values()) {
      const head = lane.ids[0] === undefined ? undefined : queue.#log.get(lane.ids[0]);
      if (head !== undefined && (head.nextAttemptAt ?? 0) > Date.now())
        await queue.#log.put({ ...head, nextAttemptAt: Date.now() });
    }
    for (const key of queue.#lanes.keys()) queue.#schedule(key);
    return queue;
  }

  /** Counts of pending and dead messages. */
  counts(): DeliveryCounts {
    let pending = 0;
    for (const lane of this.#lanes.values()) pending += lane.ids.length;
    return { pending, dead: this.#log.size - pending };
  }

  /**
   * Stores a message and makes its first attempt, unless earlier messages to the same address are
   * still waiting (then it queues behind them).
   *
   * @returns `sent` with the platform's id, or `queued`.
   * @throws `ChannelError` when the platform refused the message for good (bad recipient, content):
   *   it is not kept. `RATE_LIMITED` when the queue is full.
   */
  async enqueue(input: DeliveryInput): Promise<FirstOutcome> {
    if (this.#closed) throw new ChannelError("NOT_READY", "the gateway is shutting down");
    if (input.id !== undefined) {
      const existing = this.#log.get(input.id);
      if (existing !== undefined)
        return { status: "queued", deliveryId: existing.id, reason: "already_queued" };
    }
    const { maxQueued } = this.#host.config();
    if (this.counts().pending >= maxQueued)
      throw new ChannelError("RATE_LIMITED", `the delivery queue holds ${maxQueued} messages already`, {
        retryAfterMs: 1000,
      });
    const record: DeliveryRecord = {
      id: input.id ?? randomUUID(),
      channel: input.channel,
      address: input.address,
      content: input.content,
      status: "pending",
      attempts: 0,
      createdAt: Date.now(),
      nextAttemptAt: Date.now(),
      seq: ++this.#seq,
    };
    if (input.replyTo !== undefined) record.replyTo = input.replyTo;
    try {
      await this.#log.put(record);
    } catch (error) {
      // Not stored, so not sent: the sender may retry once the state dir can be written again.
      throw stateWriteFailed(this.#file, error);
    }
    const lane = this.#lane(record);
    lane.ids.push(record.id);
    if (lane.ids.length > 1 || lane.running)
      return { status: "queued", deliveryId: record.id, reason: "behind_earlier_messages" };
    const outcome = new Promise<FirstOutcome | { status: "failed"; error: ChannelError }>((resolve) =>
      this.#waiters.set(record.id, resolve),
    );
    this.#schedule(laneKey(record));
    const result = await outcome;
    if (result.status === "failed") throw result.error;
    return result;
  }

  /**
   * Lists stored messages, oldest first.
   *
   * @param filter - Channel, status and page size.
   */
  list(filter: DeliveryListFilter): Delivery[] {
    const out: Delivery[] = [];
    for (const record of [...this.#log.values()].sort((a, b) => a.seq - b.seq)) {
      if (filter.channel !== undefined && record.channel !== filter.channel) continue;
      if (filter.status !== undefined && record.status !== filter.status) continue;
      out.push(toDelivery(record));
      if (out.length >= filter.limit) break;
    }
    return out;
  }

  /**
   * Makes a pending or dead message due now (a dead one gets a fresh set of attempts).
   *
   * @returns The message, or undefined when there is none with this id.
   */
  async retry(id: string): Promise<Delivery | undefined> {
    const record = this.#log.get(id);
    if (record === undefined) return undefined;
    const next: DeliveryRecord = { ...record, status: "pending", nextAttemptAt: Date.now() };
    if (record.status === "dead") {
      next.attempts = 0;
      const lane = this.#lane(next);
      lane.ids.push(id);
      lane.ids.sort((a, b) => (this.#log.get(a)?.seq ?? 0) - (this.#log.get(b)?.seq ?? 0));
    }
    await this.#log.put(next);
    this.#schedule(laneKey(next));
    return toDelivery(next);
  }

  /**
   * Removes a pending or dead message.
   *
   * @returns Whether there was one.
   */
  async drop(id: string): Promise<boolean> {
    const record = this.#log.get(id);
    if (record === undefined) return false;
    this.#removeFromLane(record);
    await this.#log.delete(id);
    return true;
  }

  /** Stops retrying and closes the log; stored messages are picked up by the next start. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const lane of this.#lanes.values()) clearTimeout(lane.timer);
    for (const resolve of this.#waiters.values())
      resolve({ status: "failed", error: new ChannelError("NOT_READY", "the gateway is shutting down") });
    this.#waiters.clear();
    await this.#log.close();
  }

  #lane(record: DeliveryRecord): Lane {
    const key = laneKey(record);
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { ids: [], running: false };
      this.#lanes.set(key, lane);
    }
    return lane;
  }

  #removeFromLane(record: DeliveryRecord): void {
    const lane = this.#lanes.get(laneKey(record));
    if (lane === undefined) return;
    const index = lane.ids.indexOf(record.id);
    if (index !== -1) lane.ids.splice(index, 1);
  }

  /** Runs the lane now, or arms its timer for its head's next attempt. */
  #schedule(key: string): void {
    const lane = this.#lanes.get(key);
    if (lane === undefined || lane.running || this.#closed) return;
    clearTimeout(lane.timer);
    lane.timer = undefined;
    const head = lane.ids[0] === undefined ? undefined : this.#log.get(lane.ids[0]);
    if (head === undefined) {
      if (lane.ids.length === 0) {
        this.#lanes.delete(key);
        return;
      }
      lane.ids.shift();
      this.#schedule(key);
      return;
    }
    const delay = Math.max(0, (head.nextAttemptAt ?? 0) - Date.now(), (lane.pausedUntil ?? 0) - Date.now());
    if (delay === 0) {
      void this.#run(key, lane);
      return;
    }
    lane.timer = setTimeout(() => this.#schedule(key), Math.min(delay, 2_147_483_647));
    lane.timer.unref();
  }

  async #run(key: string, lane: Lane): Promise<void> {
    lane.running = true;
    try {
      while (!this.#closed) {
        const id = lane.ids[0];
        if (id === undefined) break;
        const record = this.#log.get(id);
        if (record === undefined) {
          lane.ids.shift();
          continue;
        }
        if ((record.nextAttemptAt ?? 0) > Date.now()) break;
        const waiter = this.#waiters.get(id);
        this.#waiters.delete(id);
        let result: SendResult | undefined;
        let failure: ChannelError | undefined;
        try {
          // An inline send runs in its request's context (its trace); a retry, or a message that
          // waited behind others, in none: it must not join the trace of the send that woke the lane.
          result =
            waiter !== undefined
              ? await this.#host.send(record)
              : await context.with(ROOT_CONTEXT, () => this.#host.send(record));
        } catch (error) {
          failure = toChannelError(error);
        }
        if (this.#closed) {
          waiter?.({ status: "queued", deliveryId: id, reason: "shutting_down" });
          break;
        }
        // Dropped by an operator while the attempt ran: forget it, whatever happened.
        if (this.#log.get(id) === undefined) {
          lane.ids.shift();
          continue;
        }
        if (result !== undefined) {
          lane.ids.shift();
          // The platform has it: the sender hears so whether or not the record can be removed now.
          this.#host.onSent(record, result, waiter !== undefined);
          waiter?.({ status: "sent", deliveryId: id, messageId: result.messageId });
          await this.#log
            .delete(id)
            .catch((error: unknown) =>
              this.#host.logger.error(
                { err: error, deliveryId: id },
                "a sent message could not be removed from the delivery journal; a restart may send it again (same idempotency key)",
              ),
            );
          continue;
        }
        const error = failure!;
        const attempts = record.attempts + 1;
        const lastError = { code: error.code, message: error.message, at: Date.now() };
        const config = this.#host.config();
        if (!RETRYABLE.has(error.code) && waiter !== undefined) {
          // The sender is still waiting: the refusal is its answer, and nothing is kept.
          lane.ids.shift();
          waiter({ status: "failed", error });
          await this.#log
            .delete(id)
            .catch((failure: unknown) =>
              this.#host.logger.error(
                { err: failure, deliveryId: id },
                "a refused message could not be removed",
              ),
            );
          continue;
        }
        if (!RETRYABLE.has(error.code) || attempts >= config.maxAttempts) {
          lane.ids.shift();
          // A sender still waiting (its first attempt was also its last) gets the failure as its answer.
          waiter?.({ status: "failed", error });
          await this.#bury({ ...record, attempts, lastError, status: "dead" });
          continue;
        }
        const backoff = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** (attempts - 1));
        const next: DeliveryRecord = {
          ...record,
          attempts,
          lastError,
          nextAttemptAt:
            Date.now() + Math.max(backoff, Math.min(error.retryAfterMs ?? 0, config.backoffMaxMs)),
        };
        // The sender hears "queued" first: the retry is this queue's business from here on.
        waiter?.({ status: "queued", deliveryId: id, reason: error.code });
        await this.#log.put(next);
        this.#host.logger.debug(
          {
            deliveryId: id,
            channel: record.channel,
            attempts,
            code: error.code,
            nextAttemptAt: next.nextAttemptAt,
          },
          "delivery attempt failed; will retry",
        );
        break;
      }
    } catch (error) {
      // The journal could not be written: pause the lane instead of trying its head again at once.
      lane.pausedUntil = Date.now() + JOURNAL_FAILURE_PAUSE_MS;
      this.#host.logger.error({ err: error, lane: key }, "delivery lane failed; pausing it");
    } finally {
      lane.running = false;
    }
    if (!this.#closed) this.#schedule(key);
  }

  /** Moves a message to the dead-letter list, dropping the oldest dead letters beyond the limit. */
  async #bury(record: DeliveryRecord): Promise<void> {
    const dead: DeliveryRecord = { ...record };
    delete dead.nextAttemptAt;
    await this.#log.put(dead);
    this.#host.logger.warn(
      {
        deliveryId: dead.id,
        channel: dead.channel,
        address: dead.address,
        attempts: dead.attempts,
        error: dead.lastError,
      },
      "delivery given up; moved to the dead-letter list",
    );
    this.#host.onDead(dead);
    const { maxDeadLetters } = this.#host.config();
    const deadLetters = [...this.#log.values()].filter((r) => r.status === "dead");
    for (const oldest of deadLetters.slice(0, Math.max(0, deadLetters.length - maxDeadLetters))) {
      this.#host.logger.warn(
        { deliveryId: oldest.id, channel: oldest.channel },
        "dead letter dropped (limit reached)",
      );
      await this.#log.delete(oldest.id);
    }
  }
}

function laneKey(record: { channel: string; address: string }): string {
  return `${record.channel}\u0000${record.address}`;
}

function toDelivery(record: DeliveryRecord): Delivery {
  const { seq: _seq, ...delivery } = record;
  return delivery;
}
