import {
  InMemoryResponseStore,
  MemoryBindingStore,
  MemoryDeviceStore,
  type MemoryKeyBacking,
  MemoryKeyStore,
  MemoryRecordStore,
  type PairedDevice,
} from "@openclaw/backend";
import {
  runBindingStoreConformance,
  runDeviceStoreConformance,
  runKeyStoreConformance,
  runRecordStoreConformance,
  runResponseStoreConformance,
} from "@openclaw/backend/testing";

// Every contract's suite, run against the in-memory implementations: a backing outlives its store,
// so a store made again on it is a restart.
runDeviceStoreConformance({
  name: "MemoryDeviceStore",
  create() {
    const backing = { devices: [] as PairedDevice[] };
    return { store: new MemoryDeviceStore(backing), reopen: () => new MemoryDeviceStore(backing) };
  },
});

runBindingStoreConformance({
  name: "MemoryBindingStore",
  create() {
    const backing = {};
    return { store: new MemoryBindingStore(backing), reopen: () => new MemoryBindingStore(backing) };
  },
});

runKeyStoreConformance({
  name: "MemoryKeyStore",
  create() {
    const backing: MemoryKeyBacking = new Map();
    return { open: async ({ limits, now }) => new MemoryKeyStore(backing, limits, now) };
  },
});

runRecordStoreConformance({
  name: "MemoryRecordStore",
  create() {
    const backing = new Map();
    return { open: async () => new MemoryRecordStore(backing) };
  },
});

runResponseStoreConformance({
  name: "InMemoryResponseStore",
  create: ({ limits, now }) => new InMemoryResponseStore(limits, now),
});
