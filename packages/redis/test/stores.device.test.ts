import { runDeviceStoreConformance } from "@openclaw/backend/testing";
import { describe } from "vitest";
import { RedisDeviceStore } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

describe.skipIf(skipRedis)("RedisDeviceStore", () => {
  const fixture = useRedis();
  runDeviceStoreConformance({
    name: "RedisDeviceStore",
    create: () => {
      const namespace = freshNamespace();
      return {
        store: new RedisDeviceStore(fixture.redis, { namespace }),
        reopen: () => new RedisDeviceStore(fixture.redis, { namespace }),
      };
    },
  });
});
