import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { runTaskStoreConformance } from "../testing";
import { FileTaskStore } from "./FileTaskStore";
import { MemoryTaskStore } from "./MemoryTaskStore";
import type { TaskStore } from "./TaskStore";

runTaskStoreConformance({ name: "MemoryTaskStore", open: async () => new MemoryTaskStore() });

const dirs: string[] = [];
runTaskStoreConformance({
  name: "FileTaskStore",
  open: async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-tasks-"));
    dirs.push(dir);
    return FileTaskStore.open({ dir, compactMinLines: 100 });
  },
  reopen: (closed: TaskStore) =>
    FileTaskStore.open({ dir: (closed as FileTaskStore).dir, compactMinLines: 100 }),
});

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
