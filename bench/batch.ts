/**
 * Building a TDiep 206 (forward/batch.ts): the forwarder's CPU work per batch, done on the store's thread between
 * receipts (issue 4). Batches of 1, 32 (the shop default `lingerInvoices`) and 128 signed 20-line invoices, as a
 * ratio to one raw RSA-2048 `crypto.sign` in the same run: a batch costs one signature plus its bytes.
 */
import { createPrivateKey, sign } from "node:crypto";
import { buildTdiep206, newMtdiep } from "../src/forward/batch.js";
import { computeInvoice } from "../src/invoice/index.js";
import { Receipt } from "../src/receipt/model.js";
import { buildSignedInvoice, computeOptionsOn } from "../src/record.js";
import { vnDateTime } from "../src/shared/clock.js";
import { createSigner, createTestIdentity, loadPkcs12, verifySignatures } from "../src/sign/index.js";
import { RECEIPT_20, SETTINGS } from "./build-sign.js";
import { measuredRows, type Variant } from "./measure.js";
import type { BenchOptions, BenchRow } from "./types.js";

export const title = "batch build (TDiep 206 of signed 20-line invoices)";

const NOW = Date.parse("2026-11-27T03:15:00Z");
const ENVELOPE = { pban: "2.0.1", mngui: "0100000099", mnnhan: "V0100000088", mst: "0100000001" } as const;

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const identity = createTestIdentity({ commonName: "Benchmark", taxCode: SETTINGS.seller.taxCode });
  const signer = createSigner(loadPkcs12(identity.pfx, identity.password));
  const key = createPrivateKey(identity.keyPem);
  const receipt = Receipt.parse(RECEIPT_20);
  const options = computeOptionsOn(SETTINGS, vnDateTime(NOW).slice(0, 10));
  const computed = computeInvoice(receipt, options);
  if (!computed.ok) throw new Error(JSON.stringify(computed.problems));
  const invoices = Array.from(
    { length: 128 },
    (_, i) =>
      buildSignedInvoice({
        draft: computed.draft,
        receipt,
        registerId: "quay-1",
        numbers: { khmshdon: "1", khhdon: "C26MAB", shdon: i + 1, seq: i + 1 },
        settings: SETTINGS,
        signer,
        now: NOW,
      }).signedXml,
  );
  const build = (n: number): Buffer =>
    buildTdiep206({
      envelope: { ...ENVELOPE, invoiceSignatures: "keep" },
      mtdiep: newMtdiep(ENVELOPE.mngui),
      invoices: invoices.slice(0, n),
      signer,
      signingTime: vnDateTime(NOW),
    });
  // A batch that does not verify has no figure worth printing.
  const report = verifySignatures(build(2).toString("utf8"), { trustedCertPem: identity.certPem });
  if (!report.ok) throw new Error(`the batch does not verify: ${report.problem}`);
  const sizes = [1, 32, 128] as const;
  const variants: Variant[] = [
    { name: "crypto.sign RSA-2048 / SHA-256 (raw)", op: () => sign("sha256", Buffer.from("x".repeat(700)), key) },
    ...sizes.map((n) => ({ name: `TDiep 206 of ${n} invoice${n > 1 ? "s" : ""}`, op: () => void build(n) })),
  ];
  return measuredRows(title, variants, opts, (m, i) =>
    i > 0 ? { value: `${(1000 / m.median).toFixed(2)} ms`, note: `${build(sizes[i - 1] ?? 1).length} bytes` } : {},
  );
}
