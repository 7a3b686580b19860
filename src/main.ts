/**
 * The composition root: the only module that knows every other one (design.md, style.md §3.2). It builds the
 * shell (store, ports, HTTP) around the pure core and wires them with plain function calls. No singletons.
 */
import { readFileSync } from "node:fs";
import { driverById } from "../drivers/index.js";
import { driverCatalogue } from "./catalogue.js";
import type { CommandContext } from "./cli.js";
import { loadConfig } from "./config/load.js";
import type { Config } from "./config/schema.js";
import { createGatewayFromConfig } from "./forward/config.js";
import { type ForwarderEvent, startForwarder } from "./forward/index.js";
import { type BridgeSession, type RegisterSession, type SessionEvent, startSession } from "./ingest/index.js";
import { createRecorder, type RecorderSettings } from "./record.js";
import type { Clock } from "./shared/clock.js";
import { systemClock } from "./shared/clock.js";
import { DaemonError } from "./shared/errors.js";
import { msg } from "./shared/i18n.js";
import { createLogger, type Logger } from "./shared/log.js";
import { createSigner, loadSigningIdentity } from "./sign/index.js";
import { startCheckpointer } from "./store/checkpoint.js";
import { openStore } from "./store/db.js";
import { createGroupCommit } from "./store/group-commit.js";
import { ingestStore } from "./store/ingest.js";
import { identityPins, journalWriter } from "./store/journal.js";

export interface DaemonDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly clock: Clock;
  /** Aborting stops every loop; `stopped` resolves once ports are closed and the store is closed. */
  readonly signal: AbortSignal;
  readonly onSessionEvent?: (event: SessionEvent) => void;
  readonly onForwarderEvent?: (event: ForwarderEvent) => void;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface Daemon {
  readonly stopped: Promise<void>;
  readonly sessions: readonly (RegisterSession | BridgeSession)[];
}

/** Map the config onto what the write path needs. */
export function recorderSettings(config: Config): RecorderSettings {
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

function readAuthorityPassword(config: Config, env: Readonly<Record<string, string | undefined>>): string {
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
 * Start the daemon: signing key, store, forwarder, one session per register. Fails fast (before any port is
 * opened) on a bad key or store; after that, faults stay local and are retried.
 */
export function startDaemon(deps: DaemonDeps): Daemon {
  const { config, clock, signal } = deps;
  const env = deps.env ?? process.env;
  const log = deps.log;

  const { identity, warnings } = loadSigningIdentity(config.signing, env);
  for (const w of warnings) log.warn({ warning: w }, "signing key permissions");
  const signer = createSigner(identity);
  const authorityPassword = readAuthorityPassword(config, env);

  const db = openStore(config.store.path);
  const store = ingestStore(db);
  const record = createRecorder({
    store,
    findIssued: store.findIssuedInvoice,
    signer,
    settings: recorderSettings(config),
    clock,
    log: log.child({ mod: "record" }),
    storePath: config.store.path,
  });

  const forwarder = startForwarder({
    db,
    gateway: createGatewayFromConfig(config.authority, {
      password: authorityPassword,
      clock,
      signal,
      // Only the in-process sandbox gateway uses it: it checks seller signatures like the HTTP sandbox does.
      trustedCertPem: identity.certificatePem,
    }),
    signer,
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
    clock,
    log: log.child({ mod: "forward" }),
    signal,
    pollIntervalMs: config.authority.pollIntervalMs,
    retry: config.authority.retry,
    ...(deps.onForwarderEvent ? { onEvent: deps.onForwarderEvent } : {}),
  });

  // Raw capture journal: every byte of every port. A receipt's chunks are written in the transaction that commits
  // the receipt (one commit, not two); between receipts a timer flushes them.
  const journal = config.journal.enabled ? journalWriter(db) : undefined;
  const stopJournal = journal?.autoFlush(config.journal.flushMs, (err) => log.error({ err }, "journal flush failed"));
  const identityPinsOfDb = identityPins(db);
  // WAL checkpoints in a worker thread, never inside a receipt's commit.
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
      if (outcomes.some((o) => o.status === "ok")) forwarder.kick();
    },
  });

  const sessions = config.registers.map((register) => {
    const driver = driverById(register.driver);
    if (!driver) throw new DaemonError("DRIVER_UNKNOWN", `Không có driver ${register.driver} / unknown driver`);
    return startSession({
      register: {
        id: register.id,
        port: register.port,
        ...(register.serial ? { serial: register.serial } : {}),
        ...(register.devicePort ? { devicePort: register.devicePort } : {}),
        ...(register.deviceSerial ? { deviceSerial: register.deviceSerial } : {}),
      },
      driver,
      options: register.options,
      record: (input) => group.submit(() => record(input)),
      quarantine: (q) => {
        group.now(() => {
          const row = store.quarantine({
            registerId: q.registerId,
            driver: q.driverId,
            receivedAt: q.receivedAt,
            code: q.code,
            detail: q.detail,
            raw: q.raw,
          });
          if (q.journal) store.linkJournal("quarantine", row, q.journal);
        });
      },
      ...(journal ? { journal, journalFlush: "by-record" as const } : {}),
      identity: identityPinsOfDb,
      ...(deps.onSessionEvent ? { onEvent: deps.onSessionEvent } : {}),
      clock,
      log,
      signal,
      ...(config.capture.enabled && config.capture.dir ? { capture: { dir: config.capture.dir } } : {}),
    });
  });

  const stopped = (async () => {
    await Promise.all([...sessions.map((s) => s.stopped), forwarder.stopped]);
    await group.idle();
    stopJournal?.();
    await checkpointer?.stop();
    db.close();
  })();
  return { stopped, sessions };
}

/** `hoadon run --config FILE`: the daemon until SIGINT/SIGTERM. */
export async function runDaemonCommand(file: string, ctx: CommandContext): Promise<number> {
  const config = loadConfig(file, driverCatalogue);
  const log = createLogger({ level: config.log.level });
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const daemon = startDaemon({ config, log, clock: systemClock, signal: controller.signal });
  ctx.err(msg(ctx.lang, "run.ready", { registers: config.registers.length, db: config.store.path }));
  await daemon.stopped;
  return 0;
}
