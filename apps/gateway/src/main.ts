#!/usr/bin/env node
// openclaw-gateway: runs the gateway as a service (the same as `openclaw gateway`).
import { runGateway } from "./runGateway";

runGateway(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`openclaw-gateway failed to start: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
