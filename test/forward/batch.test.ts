import { describe, expect, it } from "vitest";
import { buildTdiep206, checkEnvelopeConfig, createBatchBuilder, dlieuId, newMtdiep } from "../../src/forward/batch.js";
import { MTDIEP_RE } from "../../src/sandbox/authority.js";
import { manualClock } from "../../src/shared/clock.js";
import { verifySignatures } from "../../src/sign/index.js";
import { HAS_XMLSEC, xmlsecVerify } from "../sign/helpers.js";
import { makeInvoices, makeTestSigner, TEST_ENVELOPE } from "./support/invoices.js";

const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();

describe("newMtdiep", () => {
  it("is MNGui + 32 upper-case hex of a UUID (spec §7.1)", () => {
    const id = newMtdiep("0100000099", "3f2a9c0e-5b7d-4a1c-8e6f-0b2d4c6a8e0f");
    expect(id).toBe("01000000993F2A9C0E5B7D4A1C8E6F0B2D4C6A8E0F");
    expect(newMtdiep("V0100000088")).toMatch(MTDIEP_RE);
    expect(newMtdiep("A")).not.toBe(newMtdiep("A"));
  });
});

describe("buildTdiep206", () => {
  const invoices = makeInvoices(3, 123, { signer: seller.signer });
  const mtdiep = newMtdiep(envelope.mngui);
  const xml = buildTdiep206({
    envelope,
    mtdiep,
    invoices: invoices.map((i) => Buffer.from(i.xml)),
    signer: seller.signer,
    signingTime: "2026-11-20T09:45:00",
  }).toString("utf8");

  it("writes TTChung in the standard order with an empty MTDTChieu and SLuong = number of HDon", () => {
    expect(
      xml.startsWith(
        `<TDiep><TTChung><PBan>2.0.1</PBan><MNGui>0100000099</MNGui><MNNhan>V0100000088</MNNhan><MLTDiep>206</MLTDiep>` +
          `<MTDiep>${mtdiep}</MTDiep><MTDTChieu></MTDTChieu><MST>0100000001</MST><SLuong>3</SLuong></TTChung>`,
      ),
    ).toBe(true);
  });

  it("puts the invoice bytes into DLieu verbatim, in order", () => {
    expect(xml).toContain(
      `<DLieu Id="${dlieuId(mtdiep)}">${invoices.map((i) => i.xml).join("")}</DLieu><CKSNNT><Signature`,
    );
    expect(xml.endsWith("</Signature></CKSNNT></TDiep>")).toBe(true);
  });

  it("signs DLieu in CKSNNT; the batch and every invoice signature verify", () => {
    const report = verifySignatures(xml, { trustedCertPem: seller.identity.certPem });
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    const batchSig = report.signatures.find((s) => s.path.startsWith("/TDiep/CKSNNT/"));
    expect(batchSig?.referencedPaths).toContain("/TDiep/DLieu");
    expect(batchSig?.signingTime).toBe("2026-11-20T09:45:00");
    expect(report.signatures).toHaveLength(4);
  });

  it.skipIf(!HAS_XMLSEC)("signs DLieu so that xmlsec1 verifies CKSNNT over the invoices' Vietnamese bytes", () => {
    expect(Buffer.byteLength(xml)).toBeGreaterThan(xml.length);
    const r = xmlsecVerify(xml, seller.identity.certPem, [
      "--id-attr:Id",
      "DLieu",
      "--node-xpath",
      "/TDiep/CKSNNT/*[local-name()='Signature']",
    ]);
    expect(r.stderr).toContain("OK");
    expect(r.status).toBe(0);
  });

  it("strips an XML declaration (and BOM) from stored invoices but nothing else", () => {
    const one = invoices[0]?.xml as string;
    const out = buildTdiep206({
      envelope,
      mtdiep,
      invoices: [Buffer.from(`\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n${one}`)],
      signer: seller.signer,
      signingTime: "2026-11-20T09:45:00",
    }).toString("utf8");
    expect(out).toContain(`<DLieu Id="${dlieuId(mtdiep)}">${one}</DLieu>`);
  });

  it("refuses 0 or more than 1000 invoices and anything that is not an HDon", () => {
    const args = { envelope, mtdiep, signer: seller.signer, signingTime: "2026-11-20T09:45:00" };
    expect(() => buildTdiep206({ ...args, invoices: [] })).toThrow(RangeError);
    expect(() => buildTdiep206({ ...args, invoices: [Buffer.from("<DLHDon/>")] })).toThrow(/HDon/);
  });
});

describe("createBatchBuilder", () => {
  it("makes a fresh MTDiep per batch and signs at the clock's time (Vietnam local)", () => {
    const clock = manualClock(Date.UTC(2026, 10, 20, 2, 45, 0));
    let n = 0;
    const build = createBatchBuilder({
      envelope,
      signer: seller.signer,
      clock,
      uuid: () => `00000000-0000-4000-8000-00000000000${++n}`,
    });
    const [inv] = makeInvoices(1, 7);
    const a = build({
      khmshdon: "1",
      khhdon: "C26MAB",
      invoices: [{ invoiceId: 1, signedXml: Buffer.from(inv?.xml ?? "") }],
    });
    const b = build({
      khmshdon: "1",
      khhdon: "C26MAB",
      invoices: [{ invoiceId: 1, signedXml: Buffer.from(inv?.xml ?? "") }],
    });
    expect(a.mtdiep).toBe(`0100000099${"00000000000040008000000000000001"}`);
    expect(b.mtdiep).not.toBe(a.mtdiep);
    expect(a.xml.toString()).toContain("<SigningTime>2026-11-20T09:45:00</SigningTime>");
  });

  it("refuses an envelope config that would make every batch unusable", () => {
    expect(() => checkEnvelopeConfig({ ...envelope, mngui: "0100000001-001" })).toThrow(/MNGui/);
    expect(() => checkEnvelopeConfig({ ...envelope, mst: "12" })).toThrow(/MST/);
    expect(() => checkEnvelopeConfig(envelope)).not.toThrow();
  });
});
