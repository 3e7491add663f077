import type { Logger } from "pino";
import { compose, type Services } from "./compose.js";
import { type Config, listenAddress, readOperatorFile } from "./config/index.js";
import { createApp } from "./http/app.js";
import { listen, type RunningServer, type TlsOptions } from "./http/server.js";
import { createLogger } from "./log.js";
import { certificatePem } from "./pki/pem.js";
import { openDatabase } from "./storage/index.js";
import { isWorker, reportListening, superviseWorkers } from "./workers.js";

/** What the server says once it listens: its URL, and how many workers share it when several do. */
export interface Listening {
  url: string;
  workers?: number;
}

/**
 * The server process (`keyward serve`): either the supervisor of `config.workers` worker processes,
 * or one server (alone, or as one of those workers). This file owns the process: its signals
 * (SIGTERM and SIGINT drain, then shut down), its workers and the order things stop in.
 * `onListening` is called once the server (or every worker) listens; a worker tells its supervisor
 * instead. Resolves once started; the process then lives until a signal ends it.
 */
export async function runServer(config: Config, onListening: (listening: Listening) => void): Promise<void> {
  const logger = createLogger(config.log.level);
  if (config.workers > 1 && !isWorker()) {
    // Migrations once, before the workers race to run them.
    await (await openDatabase(config.database.url)).close();
    const supervisor = superviseWorkers(config.workers, logger, (code) => process.exit(code));
    // `on`, not `once`: a signal to the process group (Ctrl-C, a supervisor) comes twice, directly
    // and forwarded by `npm start`, and a second one must not end the process mid-drain.
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => supervisor.stop(signal));
    onListening({ url: await supervisor.listening, workers: config.workers });
    return;
  }
  let services: Services | undefined;
  try {
    services = await compose(config, { logger });
    await services.ca.root();
    services.startSchedulers();
    const { host, port } = listenAddress(config.listen);
    const server = await listen(createApp(services, logger), host, port, await tlsOptions(services));
    logger.info({ url: server.url, dataDir: config.dataDir }, "listening");
    await services.kmip.start();
    if (isWorker()) reportListening(server.url);
    else onListening({ url: server.url });
    const opened = services;
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      // Repeated signals (the process group's and the one `npm start` forwards) are one shutdown.
      if (stopping) return logger.info({ signal }, "already shutting down");
      stopping = true;
      void shutDown(signal, { services: opened, server, config, logger });
    };
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop(signal));
  } catch (error) {
    // It never served: what was opened closes, and the caller reports why it failed.
    await services?.close();
    throw error;
  }
}

/**
 * The shutdown order: not ready any more but still serving (load balancers take us out before the
 * port closes), the grace period, the port closed after in-flight requests, then the services in
 * reverse order of their start (compose's close), then exit.
 */
async function shutDown(
  signal: NodeJS.Signals,
  { services, server, config, logger }: { services: Services; server: RunningServer; config: Config; logger: Logger },
): Promise<void> {
  logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, "shutting down");
  services.beginDrain();
  await new Promise((r) => setTimeout(r, config.shutdownGraceSeconds * 1000));
  // The services close and the process exits in any case: a port that fails to close is only noted.
  await server.close().catch((error: unknown) => logger.warn({ err: error }, "closing the listening port failed"));
  await services.close();
  process.exit(0);
}

/** HTTPS when `tls` is configured; client certificates are accepted when they chain to our CAs. */
async function tlsOptions(services: Services): Promise<TlsOptions | undefined> {
  const tls = services.config.tls;
  if (!tls) return undefined;
  const cas = await services.ca.list();
  return {
    cert: readOperatorFile(tls.certFile, "TLS certificate"),
    key: readOperatorFile(tls.keyFile, "TLS key"),
    ca: cas.map((c) => certificatePem(c.certificate)),
  };
}
