import type {
  Adapter,
  DeliveryQueueFactory,
  DeliveryRecord,
  KeyStore,
  KeyStoreFactory,
  OutboundQueue,
  RecordStoreFactory,
  RemoteNodes,
  TaskStoreFactory,
} from "@openclaw/backend";
import type { Config } from "@openclaw/config";
import type { NodeRegistry } from "@openclaw/node-registry";
import { ProtocolError } from "@openclaw/protocol";
import type { Router } from "@openclaw/router";
import type { TaskClaims, TaskQueue } from "@openclaw/task-queue";
import { Broadcaster } from "../broadcast/Broadcaster";
import type { ChannelManager } from "../channels/ChannelManager";
import type { Logger } from "../logging";
import type { Metrics } from "../metrics/Metrics";
import type { ConversationStore } from "../state/ConversationStore";
import { AgentRunner } from "./AgentRunner";
import { ChatService } from "./ChatService";
import { reconcileCron } from "./cron";
import { type DeliveryState, openDeliveryState } from "./deliveryState";
import { InboundPipeline } from "./InboundPipeline";
import { Messaging } from "./Messaging";
import { startTaskQueue } from "./tasks";

/** What the services are built on. */
export interface GatewayServicesContext {
  /** The config in force. */
  config(): Config;
  readonly logger: Logger;
  readonly stateDir: string;
  readonly registry: NodeRegistry;
  /** The other instances' nodes, for runs forwarded to them. @defaultValue this instance's only */
  readonly remoteNodes?: RemoteNodes | undefined;
  readonly router: Router;
  readonly conversations: ConversationStore;
  readonly adapter: Adapter;
  /** The channel plugins (created after the services: they deliver inbound messages to them). */
  readonly channels: Pick<ChannelManager, "get" | "has" | "holdsLease">;
  /** Opens the store of idempotent results. @defaultValue `FileKeyStore.open` */
  readonly idempotencyStore?: KeyStoreFactory<unknown> | undefined;
  /** Opens the store of inbound ids seen. @defaultValue `FileKeyStore.open` */
  readonly dedupeStore?: KeyStoreFactory<1> | undefined;
  /** Opens the store of the outbound queue. @defaultValue `FileRecordStore.open` */
  readonly deliveryStore?: RecordStoreFactory<DeliveryRecord> | undefined;
  /** Opens the outbound queue. @defaultValue `DeliveryQueue.open` on `deliveryStore` */
  readonly deliveryQueue?: DeliveryQueueFactory | undefined;
  /** Claims of task occurrences shared with other instances. @defaultValue none */
  readonly taskClaims?: TaskClaims | undefined;
  /** Opens the task queue's store. @defaultValue a `FileTaskStore` in the state dir */
  readonly taskStore?: TaskStoreFactory | undefined;
  /** Counts broadcasts, agent runs and platform sends. @defaultValue none */
  readonly metrics?: Metrics | undefined;
}

/**
 * The gateway's services: broadcast, agents, messaging, the inbound pipeline, and the durable
 * delivery and task queues they run on (opened by {@link GatewayServices.start}).
 */
export class GatewayServices {
  readonly events: Broadcaster;
  readonly agents: AgentRunner;
  readonly messaging: Messaging;
  readonly inbound: InboundPipeline;
  /** The built-in chat (`chat.*`). */
  readonly chat: ChatService;
  readonly #context: GatewayServicesContext;
  #tasks: TaskQueue | undefined;
  #delivery: DeliveryState | undefined;

  constructor(context: GatewayServicesContext) {
    this.#context = context;
    const { config, logger, registry, router, conversations, channels } = context;
    const { metrics } = context;
    const events = new Broadcaster(context.adapter, metrics);
    this.events = events;
    this.agents = new AgentRunner({ config, registry, events, remoteNodes: context.remoteNodes, metrics });
    const deliveries = () => this.deliveries;
    this.messaging = new Messaging({ logger, router, channels, deliveries, conversations, events });
    const seen = () => this.#delivery?.inboundSeen;
    const { agents, messaging } = this;
    this.inbound = new InboundPipeline({ config, logger, seen, conversations, events, agents, messaging });
    const { adapter } = context;
    this.chat = new ChatService({ config, logger, adapter, events, agents, conversations, messaging });
  }

  /** The task queue (available once started). */
  get tasks(): TaskQueue {
    if (this.#tasks === undefined) throw new ProtocolError("SHUTTING_DOWN", "the task queue is not running");
    return this.#tasks;
  }

  /** The outbound delivery queue (available once started). */
  get deliveries(): OutboundQueue {
    if (this.#delivery === undefined)
      throw new ProtocolError("SHUTTING_DOWN", "the delivery queue is not running");
    return this.#delivery.deliveries;
  }

  /** Results of idempotent requests (once started). */
  get idempotency(): KeyStore<unknown> | undefined {
    return this.#delivery?.idempotency;
  }

  /** Makes the scheduled tasks match `config.cron`. */
  reconcileCron(config: Config): Promise<void> {
    return reconcileCron(this.tasks, config.cron, this.#context.logger);
  }

  /** Opens the delivery state and the task queue, schedules the cron jobs, reports skipped records. */
  async start(): Promise<void> {
    const { stateDir, logger, config, channels, conversations } = this.#context;
    const { idempotencyStore, dedupeStore, deliveryStore, deliveryQueue } = this.#context;
    const { events, messaging, agents } = this;
    this.#delivery = await openDeliveryState({
      ...{ stateDir, logger, config, channels, events, metrics: this.#context.metrics },
      ...{ idempotencyStore, dedupeStore, deliveryStore, deliveryQueue },
      dedupeInHistory: conversations.keepsInboundIds,
      onSentLater: (record, id) => void messaging.sentLater(record, id),
      deliverToChat: (record) => messaging.deliverToChat(record),
    });
    const { taskClaims: claims, taskStore: store } = this.#context;
    this.#tasks = await startTaskQueue({ stateDir, logger, events, messaging, agents, claims, store });
    await this.reconcileCron(config());
    const { deliveries, idempotency, inboundSeen } = this.#delivery;
    for (const journal of [
      conversations.journal,
      deliveries.journal,
      idempotency.journal,
      inboundSeen?.journal,
    ]) {
      if (journal === undefined || journal.corruptLines === 0) continue;
      logger.warn(
        { file: journal.file, skipped: journal.corruptLines, offsets: journal.corruptOffsets },
        "skipped records that are not valid in a journal (listed by byte offset); the rest was loaded",
      );
    }
  }

  /** Stops the task queue (running tasks get `drainTimeoutMs`) and closes the delivery state. */
  async stop(drainTimeoutMs: number): Promise<void> {
    this.chat.stop();
    await this.#tasks?.stop({ drainTimeoutMs });
    await this.#delivery?.deliveries.close();
    await this.#delivery?.idempotency.close();
    await this.#delivery?.inboundSeen?.close();
  }
}
