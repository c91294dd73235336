import { runKeyStoreConformance } from "@openclaw/backend/testing";
import { describe } from "vitest";
import { RedisKeyStore } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

describe.skipIf(skipRedis)("RedisKeyStore", () => {
  const fixture = useRedis();
  runKeyStoreConformance({
    name: "RedisKeyStore",
    create: () => {
      const namespace = freshNamespace();
      return {
        open: ({ limits, now }) =>
          RedisKeyStore.open(fixture.redis, { name: "idempotency", namespace, limits, now }),
      };
    },
  });
});
