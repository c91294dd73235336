import { runBindingStoreConformance } from "@openclaw/backend/testing";
import { describe } from "vitest";
import { RedisBindingStore } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

describe.skipIf(skipRedis)("RedisBindingStore", () => {
  const fixture = useRedis();
  runBindingStoreConformance({
    name: "RedisBindingStore",
    create: () => {
      const namespace = freshNamespace();
      return {
        store: new RedisBindingStore(fixture.redis, { namespace }),
        reopen: () => new RedisBindingStore(fixture.redis, { namespace }),
      };
    },
  });
});
