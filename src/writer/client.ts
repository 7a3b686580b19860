/**
 * The port thread's side of the writer thread: the write path, quarantine and identity pins as messages, and the raw
 * journal's cursor. Bytes are appended here (offsets and chain values assigned at once, from the heads the writer
 * read at start), and the chunks travel to the writer ahead of any receipt or quarantine that points into them, so
 * the writer commits a receipt's bytes in the receipt's own transaction, as on one thread.
 *
 * If the writer thread dies, every receipt still waiting is answered `failed` (the register sends it again: nothing
 * it sent is lost, and nothing was half-written), later ones too, and `died` settles so the daemon stops and says why.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { RecordOutcome } from "../driver-api/types.js";
import type { ForwarderEvent } from "../forward/index.js";
import type { DeviceIdentity, IdentityObservation, JournalSink, JournalStream } from "../ingest/journal-sink.js";
import type { PortLogEntry } from "../ingest/port-log.js";
import type { RecordInput } from "../ingest/record-input.js";
import type { QuarantineInput } from "../ingest/register-session.js";
import { DaemonError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import { JOURNAL_GENESIS, type JournalChunk, type JournalHead, journalCursor, streamKey } from "../store/journal.js";
import type { WriterConfig } from "./config.js";
import type { FromWriter, ThreadError, ToWriter, WriterThreadData } from "./protocol.js";

export interface WriterThreadOptions {
  readonly config: WriterConfig;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly onForwarderEvent?: (event: ForwarderEvent) => void;
}

/** The writer as the sessions of the port thread use it. */
export interface WriterClient {
  record(input: RecordInput): Promise<RecordOutcome>;
  /** Fire and forget: the writer logs a quarantine it could not write. */
  quarantine(q: QuarantineInput): void;
  identity(registerId: string, identity: DeviceIdentity, at: number): Promise<IdentityObservation>;
  /** Fire and forget: a port came up, went down or failed to open (the writer logs a row it could not write). */
  portEvent(entry: PortLogEntry): void;
  /** The journal cursor (when `journal.enabled`); `flush` sends what was appended to the writer. */
  readonly journal?: JournalSink;
  /** Send what is left, let the writer commit it and close the store; resolves once the thread has exited. */
  stop(): Promise<void>;
  /** Settles with the reason if the writer thread dies before {@link WriterClient.stop}; never otherwise. */
  readonly died: Promise<DaemonError>;
  /**
   * End the thread at once, committing nothing more, as a crash would (what waits is answered `failed`, `died`
   * settles). Tests use it to check the daemon's answer to a dead writer.
   */
  kill(): Promise<void>;
}

/** The compiled thread entry. Under the test runner (TypeScript sources) the build's copy: a thread needs JavaScript. */
export function writerThreadEntry(): URL {
  const here = import.meta.url;
  const entry = here.endsWith(".ts") ? new URL("../../dist/src/writer/thread.js", here) : new URL("./thread.js", here);
  if (!existsSync(fileURLToPath(entry)))
    throw new DaemonError(
      "INTERNAL",
      `Thiếu ${fileURLToPath(entry)}: hãy chạy \`npm run build\` / the writer thread is not built: run \`npm run build\``,
    );
  return entry;
}

const errorOf = (e: ThreadError): DaemonError => new DaemonError(e.code ?? "INTERNAL", e.message);

const streamsOf = (config: WriterConfig): JournalStream[] =>
  config.registers.flatMap((r) =>
    (["register", "device"] as const).flatMap((side) =>
      (["in", "out"] as const).map((direction) => ({ registerId: r.id, side, direction })),
    ),
  );

/** The writer thread's life: its messages, its end (expected after `stop`, a failure otherwise). */
function spawn<From extends { t: string }>(
  data: WriterThreadData,
  log: Logger,
  onMessage: (m: From) => void,
  onGone: (error: DaemonError) => void,
): { readonly worker: Worker; readonly exited: Promise<void> } {
  const worker = new Worker(writerThreadEntry(), {
    workerData: data,
    // A small young generation, as the main thread has (bin/hoadon.js): the design's 128 MiB budget (bench/soak.ts).
    resourceLimits: { maxYoungGenerationSizeMb: 6 },
  });
  worker.on("message", (m: From) => {
    // Everything is committed and the store closed; the thread should end by itself, or is ended.
    if (m.t === "stopped") setTimeout(() => void worker.terminate(), 2_000).unref();
    onMessage(m);
  });
  worker.on("error", (error) => {
    log.fatal({ err: error }, "writer thread failed");
    onGone(
      new DaemonError(
        "INTERNAL",
        `Luồng ghi dữ liệu bị lỗi, hoadon dừng để khởi động lại: ${error.message} / the writer thread failed; hoadon stops so it can be restarted`,
      ),
    );
  });
  const exited = new Promise<void>((resolve) => {
    worker.on("exit", (code) => {
      onGone(
        new DaemonError("INTERNAL", `Luồng ghi dữ liệu đã dừng (mã ${code}) / the writer thread exited (code ${code})`),
      );
      resolve();
    });
  });
  return { worker, exited };
}

/**
 * Start the writer thread and wait until it has opened the key and the store. Rejects with its own error (bad key,
 * wrong password, unreadable store: the same codes and exit statuses as on one thread); nothing is left running then.
 */
export async function startWriterThread(options: WriterThreadOptions): Promise<WriterClient> {
  const { config, log } = options;
  const streams = streamsOf(config);
  const env = { ...options.env };

  let nextId = 1;
  const records = new Map<number, (outcome: RecordOutcome | ThreadError) => void>();
  const identities = new Map<number, { resolve: (o: IdentityObservation) => void; reject: (e: unknown) => void }>();
  let gone: DaemonError | undefined;
  let stopping = false;
  let markDied: (error: DaemonError) => void = () => {};
  const died = new Promise<DaemonError>((resolve) => {
    markDied = resolve;
  });
  let markReady: (heads: readonly JournalHead[]) => void = () => {};
  let markFailed: (error: DaemonError) => void = () => {};
  const ready = new Promise<readonly JournalHead[]>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });

  /** The writer thread is gone: what waits is answered "send again", and so is everything after. */
  const lost = (error: DaemonError): void => {
    if (gone) return;
    gone = error;
    const outcome: RecordOutcome = { status: "failed", code: "STORE_UNAVAILABLE", message: error.message };
    for (const settle of records.values()) settle(outcome);
    records.clear();
    for (const { reject } of identities.values()) reject(error);
    identities.clear();
    markFailed(error);
    if (!stopping) markDied(error);
  };

  const writerData: WriterThreadData = {
    config,
    env,
    streams,
    forwarderEvents: options.onForwarderEvent !== undefined,
  };
  const writer = spawn<FromWriter>(
    writerData,
    log,
    (m) => {
      switch (m.t) {
        case "ready":
          markReady(m.heads);
          return;
        case "fatal":
          lost(errorOf(m.error));
          return;
        case "outcome":
        case "threw": {
          const settle = records.get(m.id);
          records.delete(m.id);
          settle?.(m.t === "outcome" ? m.outcome : m.error);
          return;
        }
        case "identity":
        case "identity-failed": {
          const waiter = identities.get(m.id);
          identities.delete(m.id);
          if (m.t === "identity") waiter?.resolve(m.observation);
          else waiter?.reject(errorOf(m.error));
          return;
        }
        case "forwarder":
          try {
            options.onForwarderEvent?.(m.event);
          } catch (error) {
            log.error({ err: error }, "onForwarderEvent listener threw");
          }
          return;
        case "stopped":
          return;
      }
    },
    lost,
  );
  const post = (message: ToWriter, transfer?: ArrayBuffer[]): void => writer.worker.postMessage(message, transfer);

  let heads: readonly JournalHead[];
  try {
    heads = await ready;
  } catch (error) {
    stopping = true;
    await writer.worker.terminate();
    throw error;
  }
  const headByKey = new Map(streams.map((s, i) => [streamKey(s), { ...(heads[i] as JournalHead) }]));

  let pending: JournalChunk[] = [];
  /** Send the appended chunks ahead of whatever message follows. */
  const sendChunks = (): void => {
    if (pending.length === 0 || gone) return;
    const chunks = pending;
    pending = [];
    post(
      { t: "chunks", chunks },
      chunks.map((c) => c.bytes.buffer as ArrayBuffer),
    );
  };
  const cursor = journalCursor(
    (stream) => {
      const k = streamKey(stream);
      let head = headByKey.get(k);
      if (!head) {
        // Only configured registers have sessions, and all their streams were read at start.
        log.error({ ...stream }, "journal stream without a head: starts a new chain");
        head = { offset: 0, chain: JOURNAL_GENESIS };
        headByKey.set(k, head);
      }
      return head;
    },
    (chunk) => pending.push(chunk),
  );
  const journal: JournalSink | undefined = config.journal.enabled
    ? { append: cursor.append, offset: cursor.offset, flush: sendChunks }
    : undefined;
  // Between receipts, the chunks go over at the journal's own pace (the writer flushes them on its timer).
  const timer = journal ? setInterval(sendChunks, config.journal.flushMs) : undefined;
  timer?.unref();

  return {
    record(input): Promise<RecordOutcome> {
      if (gone) return Promise.resolve({ status: "failed", code: "STORE_UNAVAILABLE", message: gone.message });
      sendChunks();
      const id = nextId++;
      return new Promise<RecordOutcome>((resolve, reject) => {
        records.set(id, (result) => ("status" in result ? resolve(result) : reject(errorOf(result))));
        post({ t: "record", id, input });
      });
    },
    quarantine(q): void {
      if (gone) throw gone;
      sendChunks();
      post({ t: "quarantine", q });
    },
    identity(registerId, identity, at): Promise<IdentityObservation> {
      if (gone) return Promise.reject(gone);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        identities.set(id, { resolve, reject });
        post({ t: "identity", id, registerId, identity, at });
      });
    },
    portEvent(entry): void {
      if (!gone) post({ t: "port", entry });
    },
    ...(journal ? { journal } : {}),
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      if (!gone) {
        stopping = true;
        sendChunks();
        post({ t: "stop" });
      }
      await writer.exited;
    },
    died,
    async kill(): Promise<void> {
      await writer.worker.terminate();
      await writer.exited;
    },
  };
}
