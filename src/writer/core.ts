/**
 * The store side, wired in one place: the write path (validate, number, build, sign, group commit), the raw
 * journal's rows, quarantine, identity pins, WAL checkpoints and the forwarder, all over one connection. In a worker
 * thread (src/writer/thread.ts; `store.writer: thread`, or `auto` when a register uses two ports) the ports' event
 * loop only moves bytes: a commit's fsync or an invoice's signing never holds back a printer's bytes or another
 * register's reply (issue 4). Otherwise (`inline`, `auto` with one-port registers, a `:memory:` store) it runs on the
 * ports' thread.
 */
import { readFileSync } from "node:fs";
import type { RecordOutcome } from "../driver-api/types.js";
import { createGatewayFromConfig } from "../forward/config.js";
import { type ForwarderEvent, startForwarder } from "../forward/index.js";
import type { DeviceIdentity, IdentityObservation, JournalStream } from "../ingest/journal-sink.js";
import type { PortLogEntry } from "../ingest/port-log.js";
import type { RecordInput } from "../ingest/record-input.js";
import type { QuarantineInput } from "../ingest/register-session.js";
import { createRecorder, type RecorderSettings } from "../record.js";
import type { Clock } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import { createSigner, loadSigningIdentity, type XmlSigner } from "../sign/index.js";
import { startCheckpointer } from "../store/checkpoint.js";
import { type Db, openStore } from "../store/db.js";
import { createGroupCommit } from "../store/group-commit.js";
import { ingestStore } from "../store/ingest.js";
import {
  identityPins,
  type JournalChunk,
  type JournalHead,
  type JournalWriter,
  journalWriter,
  pruneJournal,
} from "../store/journal.js";
import type { WriterConfig } from "./config.js";

/** Map the config onto what the write path needs. */
export function recorderSettings(config: WriterConfig): RecorderSettings {
  const inv = config.invoice;
  const red = inv.salesReduction;
  return {
    seller: {
      name: config.seller.name,
      taxCode: config.seller.taxCode,
      address: config.seller.address,
      ...(config.seller.phone ? { phone: config.seller.phone } : {}),
      ...(config.seller.email ? { email: config.seller.email } : {}),
    },
    providerTaxCode: inv.providerTaxCode,
    form: inv.form,
    symbolSuffix: inv.symbolSuffix,
    registerSuffix: Object.fromEntries(
      config.registers.flatMap((r) => (r.symbolSuffix ? [[r.id, r.symbolSuffix] as const] : [])),
    ),
    mccqtBlock: inv.mccqtBlock,
    ...(inv.mccqtRange ? { mccqtRange: inv.mccqtRange } : {}),
    profile: inv.profile,
    pban: inv.pban,
    anonymousBuyer: inv.anonymousBuyer,
    compute: {
      form: inv.form,
      toleranceDong: inv.toleranceDong,
      wordsStyle: inv.wordsStyle,
      ...(red
        ? {
            salesReduction: {
              ratio: red.ratio,
              ratioByGroup: red.ratioByGroup,
              note: red.note,
              registerTotal: red.registerTotal,
              xml: { placement: red.placement, noteField: red.noteField, amountField: red.amountField },
            },
          }
        : {}),
    },
    rates: inv.rates,
    holdRatesNotInForce: inv.holdRatesNotInForce,
    // Excluded groups first, so a dated rule of the shop's for one of them can still override (reduction.ts).
    reductionRules: [...(red?.excludedGroups ?? []).map((group) => ({ group, percent: 0 })), ...(red?.rules ?? [])],
    corrections: { fullRefund: inv.fullRefund },
    qrCrc: inv.qrCrc,
  };
}

function readAuthorityPassword(config: WriterConfig, env: Readonly<Record<string, string | undefined>>): string {
  const { passwordFile, passwordEnv } = config.authority;
  if (passwordFile !== undefined) {
    try {
      return readFileSync(passwordFile, "utf8").replace(/\r?\n$/, "");
    } catch (cause) {
      throw new DaemonError(
        "CONFIG_INVALID",
        `Không đọc được tệp mật khẩu T-VAN ${passwordFile} / cannot read authority.passwordFile`,
        { cause },
      );
    }
  }
  const value = passwordEnv === undefined ? undefined : env[passwordEnv];
  if (value === undefined)
    throw new DaemonError(
      "CONFIG_INVALID",
      `Biến môi trường ${passwordEnv} chưa đặt / authority.passwordEnv is not set`,
    );
  return value;
}

/**
 * How often retention sheds old journal chunks: at most 1000 per round (one transaction, ~3–4 ms on the writer,
 * `npm run bench -- --only journal`), every 5 s while a backlog lasts, else once a minute.
 */
const PRUNE_EVERY_MS = 60_000;
const PRUNE_BACKLOG_MS = 5_000;
/** The first round, a little after the start. */
const PRUNE_FIRST_MS = 3_000;

/** The signing key and the T-VAN password: what the writer and the forwarder each open. */
export interface Keys {
  readonly signer: XmlSigner;
  readonly certificatePem: string;
  readonly authorityPassword: string;
}

/** Open the signing key and read the T-VAN password. Throws the DaemonError an operator sees (bad key, password). */
export function openKeys(config: WriterConfig, env: Readonly<Record<string, string | undefined>>, log: Logger): Keys {
  const { identity, warnings } = loadSigningIdentity(config.signing, env);
  for (const w of warnings) log.warn({ warning: w }, "signing key permissions");
  return {
    signer: createSigner(identity),
    certificatePem: identity.certificatePem,
    authorityPassword: readAuthorityPassword(config, env),
  };
}

/** The forwarder, over the writer's connection. */
export interface Forwarding {
  /** `invoices` new invoices are committed. */
  kick(invoices: number): void;
  /** Stop the loop (an exchange on the wire is abandoned as on any stop). */
  stop(): Promise<void>;
}

export function startForwarding(deps: {
  readonly config: WriterConfig;
  readonly db: Db;
  readonly keys: Keys;
  readonly clock: Clock;
  readonly log: Logger;
  readonly onEvent?: (event: ForwarderEvent) => void;
  /** Runs the forwarder's store writes: the group commit's `join`. */
  readonly write: <T>(work: () => T) => Promise<T>;
}): Forwarding {
  const { config, keys, clock } = deps;
  const stopForwarder = new AbortController();
  const forwarder = startForwarder({
    db: deps.db,
    gateway: createGatewayFromConfig(config.authority, {
      password: keys.authorityPassword,
      clock,
      signal: stopForwarder.signal,
      // Only the in-process sandbox gateway uses it: it checks seller signatures like the HTTP sandbox does.
      trustedCertPem: keys.certificatePem,
    }),
    signer: keys.signer,
    envelope: {
      pban: config.authority.envelopePban,
      mngui: config.authority.senderCode,
      mnnhan: config.authority.receiverCode,
      mst: config.seller.taxCode,
      invoiceSignatures: "keep",
      signatureStyle: config.authority.batchSignature,
    },
    leaseMs: config.authority.leaseMs,
    replyDeadlineMs: config.authority.replyDeadlineMs,
    limits: config.authority.batch,
    lingerMs: config.authority.batch.lingerMs,
    lingerInvoices: config.authority.batch.lingerInvoices,
    clock,
    log: deps.log.child({ mod: "forward" }),
    signal: stopForwarder.signal,
    pollIntervalMs: config.authority.pollIntervalMs,
    retry: config.authority.retry,
    ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
    write: deps.write,
    sellingAtStart: config.registers.length > 0,
  });
  return {
    kick: (invoices) => forwarder.kick(invoices),
    async stop(): Promise<void> {
      stopForwarder.abort();
      await forwarder.stopped;
    },
  };
}

export interface WriterDeps {
  readonly config: WriterConfig;
  readonly keys: Keys;
  readonly clock: Clock;
  readonly log: Logger;
  readonly onForwarderEvent?: (event: ForwarderEvent) => void;
}

/** The writer, as the port thread's sessions use it (directly, or through src/writer/client.ts). */
export interface Writer {
  /** The write path, in this event-loop turn's group commit: the outcome is committed once it resolves. */
  record(input: RecordInput): Promise<RecordOutcome>;
  /** Keep undecodable bytes, with their journal range, in a transaction of their own. Throws what the store threw. */
  quarantine(q: QuarantineInput): void;
  identity(registerId: string, identity: DeviceIdentity, at: number): IdentityObservation;
  /** Keep a port-log row (in the next group's commit); a failure is logged, never thrown. */
  portEvent(entry: PortLogEntry): void;
  /** The raw journal (when `journal.enabled`): sessions on this thread append to it directly. */
  readonly journal?: JournalWriter;
  /** Chunks the port thread appended (offsets and chains from {@link Writer.heads}). */
  adoptChunks(chunks: readonly JournalChunk[]): void;
  /** Where each of these streams ends now (the port thread's journal cursor starts there). */
  heads(streams: readonly JournalStream[]): JournalHead[];
  /** After the sessions stopped: stop the forwarder, commit what is queued, flush the journal, close the store. */
  stop(): Promise<void>;
}

/** Open the store (migrating it) and start the write path. Throws (before any register is served) on a bad store. */
export function startWriter(deps: WriterDeps): Writer {
  const { config, clock, keys, log } = deps;

  const db = openStore(config.store.path);
  const store = ingestStore(db);
  const record = createRecorder({
    store,
    findIssued: store.findIssuedInvoice,
    signer: keys.signer,
    settings: recorderSettings(config),
    clock,
    log: log.child({ mod: "record" }),
    storePath: config.store.path,
  });
  // Raw capture journal: every byte of every port. A receipt's chunks are written in the transaction that commits
  // the receipt (one commit, not two); between receipts a timer flushes them.
  const journal = config.journal.enabled ? journalWriter(db) : undefined;
  const stopJournal = journal?.autoFlush(config.journal.flushMs, (err) => log.error({ err }, "journal flush failed"));
  const pins = identityPins(db);
  // Retention (journal.keepDays): a bounded slice of old chunks each round, between receipts' commits.
  const keepDays = config.journal.enabled ? config.journal.keepDays : undefined;
  let pruning: NodeJS.Timeout | undefined;
  if (keepDays !== undefined) {
    const prune = (): void => {
      let more = false;
      try {
        const shed = pruneJournal(db, { keepDays, now: clock.now() });
        more = shed.more;
        if (shed.chunks > 0) log.info({ ...shed, keepDays }, "journal: old chunks shed");
      } catch (err) {
        log.error({ err }, "journal retention failed");
      }
      // Sooner while a backlog is being shed (a first keepDays on an old store), else once a minute.
      pruning = setTimeout(prune, more ? PRUNE_BACKLOG_MS : PRUNE_EVERY_MS);
      pruning.unref();
    };
    pruning = setTimeout(prune, PRUNE_FIRST_MS);
    pruning.unref();
  }
  // WAL checkpoints in a worker thread of their own, never inside a receipt's commit.
  const checkpointer =
    config.store.path === ":memory:"
      ? undefined
      : startCheckpointer(db, config.store.path, log.child({ mod: "store" }));
  // The receipts of one event-loop turn share one transaction and one fsync.
  const group = createGroupCommit({
    db,
    ...(journal ? { journal } : {}),
    log: log.child({ mod: "record" }),
    storePath: config.store.path,
    afterCommit: (outcomes) => {
      checkpointer?.afterCommit();
      const invoices = outcomes.filter((o) => o.status === "ok").length;
      if (invoices > 0) forwarding.kick(invoices);
    },
  });
  // The forwarder's writes join the receipts' groups: one fsync for both, none of its own on this thread.
  const forwarding = startForwarding({
    config,
    db,
    keys,
    clock,
    log,
    write: (work) => group.join(work),
    ...(deps.onForwarderEvent ? { onEvent: deps.onForwarderEvent } : {}),
  });

  // The event log says when hoadon ran (`hoadon status`: is it running now, or did it stop without closing?).
  // A note the store cannot take (a full disk) is logged: it must not keep hoadon from serving, or from stopping.
  const noteRun = (kind: "daemon-start" | "daemon-stop", detail: object): void => {
    try {
      group.now(() => store.event(clock.now(), kind, null, detail));
    } catch (err) {
      log.error({ err, kind }, "could not note the run in the event log");
    }
  };
  noteRun("daemon-start", { pid: process.pid, registers: config.registers.map((r) => r.id) });

  return {
    record: (input) => group.submit(() => record(input)),
    portEvent: (entry) => {
      group
        .join(() => store.event(entry.at, entry.kind, entry.registerId, entry.detail))
        .catch((err: unknown) => log.error({ err, kind: entry.kind }, "port log failed"));
    },
    quarantine: (q) => {
      group.now(() => store.keepQuarantined(q));
    },
    identity: pins,
    ...(journal ? { journal } : {}),
    adoptChunks: (chunks) => journal?.adopt(chunks),
    heads: (streams) => streams.map((s) => journal?.headOf(s) ?? { offset: 0, chain: "" }),
    async stop(): Promise<void> {
      if (pruning) clearTimeout(pruning);
      await forwarding.stop();
      await group.idle();
      noteRun("daemon-stop", { pid: process.pid });
      stopJournal?.();
      await checkpointer?.stop();
      db.close();
    },
  };
}
