/**
 * @packageDocumentation
 * The OpenClaw channel plugin for Matrix (matrix-js-sdk). The gateway loads it for channels with
 * `plugin: "matrix"` (or a channel named `matrix`).
 */

import { matrixChannel } from "./matrix";

export type { MatrixConfig } from "./matrix";
export { MATRIX_MAX_TEXT, MatrixConfigSchema, matrixChannel } from "./matrix";
export default matrixChannel;
