/**
 * `hoadon invoice build` (a receipt JSON → the signed invoice XML, no queue) and `hoadon invoice verify` (signature,
 * structure, arithmetic and codes of one invoice; names the first problem).
 */
import { readFileSync } from "node:fs";
import { driverCatalogue } from "../catalogue.js";
import type { CommandContext } from "../cli.js";
import { loadConfig } from "../config/load.js";
import {
  checkArithmetic,
  checkStructure,
  computeInvoice,
  formatKhhdon,
  type InvoiceFacts,
  KHHDON_MTT_RE,
  type LookupQrFacts,
  MCCQT_RE,
  type Problem,
  parseLookupQr,
  readInvoiceFacts,
  readXmlTree,
  resolveCorrection,
  SHDON_RE,
} from "../invoice/index.js";
import { Receipt } from "../receipt/model.js";
import { buildSignedInvoice, computeOptionsOn } from "../record.js";
import { systemClock, vnDate } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { msg } from "../shared/i18n.js";
import { createSigner, loadSigningIdentity, type VerifyReport, verifySignatures } from "../sign/index.js";
import { recorderSettings } from "../writer/core.js";

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (cause) {
    throw new DaemonError("INPUT_UNREADABLE", `Không đọc được ${what} ${file} / cannot read the ${what}`, { cause });
  }
}

export async function invoiceBuildCommand(
  configFile: string,
  receiptFile: string,
  ctx: CommandContext,
): Promise<number> {
  const config = loadConfig(configFile, driverCatalogue);
  let json: unknown;
  try {
    json = JSON.parse(readText(receiptFile, "receipt"));
  } catch (cause) {
    if (cause instanceof DaemonError) throw cause;
    throw new DaemonError("INVOICE_INVALID", `${receiptFile} không phải JSON / not JSON`, { cause });
  }
  const parsed = Receipt.safeParse(json);
  if (!parsed.success)
    throw new DaemonError(
      "INVOICE_INVALID",
      parsed.error.issues.map((i) => `${i.path.join(".") || "receipt"}: ${i.message}`).join("\n"),
    );
  const settings = recorderSettings(config);
  const now = systemClock.now();
  const nlap = vnDate(now);
  // Outside the queue there is no store: a replacement is taken as written, a refund cannot be resolved.
  const corrected = resolveCorrection(parsed.data, undefined, settings.corrections);
  if (!corrected.ok) throw new DaemonError("INVOICE_INVALID", corrected.problems.map((p) => p.message).join("\n"));
  const computed = computeInvoice(corrected.receipt, computeOptionsOn(settings, nlap));
  if (!computed.ok) throw new DaemonError("INVOICE_INVALID", computed.problems.map((p) => p.message).join("\n"));
  const { identity } = loadSigningIdentity(config.signing);
  const built = buildSignedInvoice({
    draft: computed.draft,
    receipt: corrected.receipt,
    registerId: config.registers[0]?.id ?? "cli",
    // Outside the queue no counter is consumed: the invoice is numbered 1, for inspection only.
    numbers: {
      khmshdon: settings.form,
      khhdon: formatKhhdon(Number(nlap.slice(0, 4)), settings.symbolSuffix),
      shdon: 1,
      seq: 1,
    },
    settings,
    signer: createSigner(identity),
    now,
  });
  ctx.out(built.signedXml.toString("utf8"));
  return 0;
}

export interface InvoiceCheck {
  readonly ok: boolean;
  readonly file: string;
  /** The first problem, in words; undefined when valid. */
  readonly problem?: string;
  readonly problems: readonly Problem[];
  readonly signatures: VerifyReport["signatures"];
  readonly facts?: Pick<InvoiceFacts, "KHMSHDon" | "KHHDon" | "SHDon" | "NLap" | "MCCQT" | "TgTTTBSo">;
}

const p = (code: string, path: string, message: string): Problem => ({ code, path, message });

/** Codes and their agreement with each other (spec §3, §4; addendum §2a). */
function checkCodes(f: InvoiceFacts): Problem[] {
  const out: Problem[] = [];
  if (!KHHDON_MTT_RE.test(f.KHHDon))
    out.push(p("KHHDON_FORMAT", "TTChung/KHHDon", `KHHDon "${f.KHHDon}" không đúng dạng C{YY}M{XX} / wrong format`));
  if (!SHDON_RE.test(f.SHDon))
    out.push(p("SHDON_FORMAT", "TTChung/SHDon", `SHDon "${f.SHDon}" phải có 1–8 chữ số / must be 1–8 digits`));
  if (f.MCCQT === undefined) out.push(p("MCCQT_MISSING", "HDon/MCCQT", "Thiếu MCCQT / MCCQT is missing"));
  else if (!MCCQT_RE.test(f.MCCQT))
    out.push(
      p("MCCQT_FORMAT", "HDon/MCCQT", `MCCQT "${f.MCCQT}" không đúng dạng M1-YY-XXXXX-00000000000 / wrong format`),
    );
  else {
    if (f.MCCQT[1] !== f.KHMSHDon)
      out.push(p("MCCQT_FORM", "HDon/MCCQT", `MCCQT ghi loại ${f.MCCQT[1]}, KHMSHDon là ${f.KHMSHDon} / type differs`));
    if (f.MCCQT.slice(3, 5) !== f.NLap.slice(2, 4))
      out.push(p("MCCQT_YEAR", "HDon/MCCQT", `Năm trong MCCQT khác năm NLap ${f.NLap} / year differs from NLap`));
  }
  if (KHHDON_MTT_RE.test(f.KHHDon) && f.KHHDon.slice(1, 3) !== f.NLap.slice(2, 4))
    out.push(p("KHHDON_YEAR", "TTChung/KHHDon", `Năm trong KHHDon khác năm NLap ${f.NLap} / year differs from NLap`));
  if (f.DLQRCode !== undefined && f.DLQRCode !== "") {
    let qr: LookupQrFacts | undefined;
    try {
      qr = parseLookupQr(f.DLQRCode);
    } catch (e) {
      out.push(p("QR_INVALID", "HDon/DLQRCode", `Mã QR tra cứu không đọc được / unreadable: ${(e as Error).message}`));
    }
    if (qr?.crc === "bad") out.push(p("QR_CRC", "HDon/DLQRCode", "Mã kiểm tra (CRC) của QR sai / QR CRC mismatch"));
    if (qr) {
      const pairs: Array<[string, string, string | undefined]> = [
        ["KHMSHDon", qr.khmshdon, f.KHMSHDon],
        ["KHHDon", qr.khhdon, f.KHHDon],
        ["SHDon", qr.shdon, f.SHDon.replace(/^0+(?=\d)/, "")],
        ["NLap", qr.date, f.NLap.replaceAll("-", "")],
        ["TgTTTBSo", qr.total.replace(/\.0+$/, ""), f.TgTTTBSo.replace(/\.0+$/, "")],
        ["MST", qr.sellerTaxCode, f.sellerTaxCode],
      ];
      for (const [name, inQr, inInvoice] of pairs)
        if (inInvoice !== undefined && inQr !== inInvoice)
          out.push(
            p("QR_MISMATCH", "HDon/DLQRCode", `QR ghi ${name}=${inQr}, hóa đơn ghi ${inInvoice} / QR disagrees`),
          );
    }
  }
  return out;
}

/**
 * Every check `hoadon invoice verify` makes, as a value, in this order: the signature (it must verify and cover
 * `HDon/DLHDon`), the structure (element order and requiredness per profile, src/invoice/structure.ts), the codes
 * (`KHHDon`, `SHDon`, `MCCQT`, the lookup QR against the invoice) and the arithmetic (lines, rates, totals, words).
 * `problem` is the first one found.
 */
export function checkInvoice(xml: string, file: string, trustedCertPem?: string): InvoiceCheck {
  const report = verifySignatures(xml, trustedCertPem ? { trustedCertPem } : {});
  const problems: Problem[] = [];
  if (report.signatures.length === 0)
    problems.push(p("SIGNATURE_MISSING", "HDon/DSCKS/NBan", report.problem ?? "Không có chữ ký số / no signature"));
  else if (!report.ok)
    problems.push(p("SIGNATURE_INVALID", "Signature", report.problem ?? "chữ ký sai / bad signature"));
  else if (!report.signatures.some((s) => s.referencedPaths.includes("/HDon/DLHDon")))
    problems.push(
      p("SIGNATURE_SCOPE", "Signature", "Chữ ký không phủ HDon/DLHDon / the signature does not cover DLHDon"),
    );

  const doc = xml.replace(/^\uFEFF/, "");
  const facts = readInvoiceFacts(doc);
  if (!facts.ok) problems.push(...facts.problems);
  else problems.push(...checkStructure(readXmlTree(doc)), ...checkCodes(facts.facts), ...checkArithmetic(facts.facts));
  const first = problems[0];
  return {
    ok: problems.length === 0,
    file,
    ...(first ? { problem: `${first.path}: ${first.message}` } : {}),
    problems,
    signatures: report.signatures,
    ...(facts.ok
      ? {
          facts: {
            KHMSHDon: facts.facts.KHMSHDon,
            KHHDon: facts.facts.KHHDon,
            SHDon: facts.facts.SHDon,
            NLap: facts.facts.NLap,
            MCCQT: facts.facts.MCCQT,
            TgTTTBSo: facts.facts.TgTTTBSo,
          },
        }
      : {}),
  };
}

export async function invoiceVerifyCommand(
  file: string,
  values: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  const xml = readText(file, "invoice");
  const trusted =
    typeof values["trusted-cert"] === "string" ? readText(values["trusted-cert"], "certificate") : undefined;
  const check = checkInvoice(xml, file, trusted);
  if (values.json) ctx.out(JSON.stringify(check, null, 2));
  else if (check.ok) {
    ctx.out(msg(ctx.lang, "verify.ok", { file }));
    const f = check.facts;
    if (f) ctx.out(`  ${f.KHMSHDon}${f.KHHDon} số ${f.SHDon} · ${f.MCCQT} · ${f.NLap} · ${f.TgTTTBSo} đ`);
    for (const s of check.signatures) ctx.out(`  ${s.signerSubject ?? "?"} · ${s.signingTime ?? ""}`);
    if (!trusted)
      ctx.out(
        "  (chưa đối chiếu chứng thư tin cậy: thêm --trusted-cert / signer not checked against a trusted certificate)",
      );
  } else {
    ctx.err(msg(ctx.lang, "verify.fail", { file }));
    ctx.err(`  ${check.problem}`);
    if (check.problems.length > 1) ctx.err(`  (+${check.problems.length - 1} lỗi khác / more; --json)`);
  }
  return check.ok ? 0 : 65;
}
