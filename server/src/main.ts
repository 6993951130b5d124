/**
 * The `sisyphus` command (npm start): parses the command line, starts one member, and on
 * SIGTERM or SIGINT drains and closes it. Exit codes: 0 clean stop, 1 runtime failure,
 * 2 bad command line.
 */
import { ConfigError, parseCommandLine } from "./config.js";
import { startMember } from "./node.js";
import { createLogger } from "./observability/index.js";
import { SERVER_VERSION } from "./version.js";

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sisyphus: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === "help") {
    process.stdout.write(parsed.text);
    return 0;
  }
  if (parsed.kind === "version") {
    process.stdout.write(`sisyphus ${SERVER_VERSION}\n`);
    return 0;
  }
  const { config } = parsed;
  const logger = createLogger({ level: config.logLevel, name: config.name });
  let member;
  try {
    member = await startMember(config, logger);
  } catch (err) {
    logger.fatal({ err }, "the member could not start");
    return 1;
  }
  const started = member;
  // The first SIGTERM or SIGINT starts the drain. Another SIGTERM changes nothing (the drain is
  // bounded by --shutdown-timeout-ms); another SIGINT (Ctrl-C twice) exits at once, which loses
  // nothing acknowledged: every acknowledged write is already on disk.
  let signalCount = 0;
  const signalled = new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      signalCount++;
      if (signalCount === 1) resolve(signal);
      else if (signal === "SIGINT") {
        logger.warn({ signal }, "second interrupt: exiting without finishing the drain");
        process.exit(130);
      } else logger.info({ signal }, "already shutting down");
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  const outcome = await Promise.race([signalled.then((signal) => ({ signal })), started.failed.then((err) => ({ err }))]);
  if ("signal" in outcome) logger.info({ signal: outcome.signal }, "shutting down");
  try {
    await started.stop();
  } catch (err) {
    logger.error({ err }, "shutdown failed");
    return 1;
  }
  return "err" in outcome ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
