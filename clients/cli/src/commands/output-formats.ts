/** Which --write-out formats a command supports. */
import type { OutputFormat } from "../command.js";

export const SIMPLE_JSON: readonly OutputFormat[] = ["simple", "json"];
export const ALL_FORMATS: readonly OutputFormat[] = ["simple", "json", "table"];
