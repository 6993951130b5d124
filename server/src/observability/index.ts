/** Observability: the pino logger and the prom-client registry of one member. */
export { createLogger, LOG_LEVELS } from "./logger.js";
export type { Logger } from "./logger.js";
export { Metrics } from "./metrics.js";
export type { RaftStatsSource, StoreStatsSource } from "./metrics.js";
