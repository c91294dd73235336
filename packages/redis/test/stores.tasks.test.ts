import type { TaskRecord, TaskStore } from "@openclaw/task-queue";
import { runTaskStoreConformance } from "@openclaw/task-queue/testing";
import { describe } from "vitest";
import { RedisTaskStore } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

describe.skipIf(skipRedis)("RedisTaskStore", () => {
  const fixture = useRedis();
  const namespaces = new WeakMap<TaskStore, string>();
  const open = (namespace: string): TaskStore => {
    const store: TaskStore = new RedisTaskStore<TaskRecord>(fixture.redis, { namespace });
    namespaces.set(store, namespace);
    return store;
  };
  runTaskStoreConformance({
    name: "RedisTaskStore",
    open: async () => open(freshNamespace()),
    reopen: async (closed) => open(namespaces.get(closed) ?? freshNamespace()),
  });
});
