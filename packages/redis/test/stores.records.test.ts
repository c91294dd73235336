import { runRecordStoreConformance } from "@openclaw/backend/testing";
import { describe } from "vitest";
import { RedisRecordStore } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

describe.skipIf(skipRedis)("RedisRecordStore", () => {
  const fixture = useRedis();
  runRecordStoreConformance({
    name: "RedisRecordStore",
    create: () => {
      const namespace = freshNamespace();
      return { open: () => RedisRecordStore.open(fixture.redis, { name: "deliveries", namespace }) };
    },
  });
});
