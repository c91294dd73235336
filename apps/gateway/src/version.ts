/** The gateway's version, reported in `connect` and `system.status`. */
export const GATEWAY_VERSION = "0.1.0";
/** The server name reported in `connect`. */
export const GATEWAY_NAME = "openclaw-gateway";
