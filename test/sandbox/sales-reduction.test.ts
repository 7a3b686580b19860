/**
 * The sandbox tax authority's arithmetic check on sales invoices under the NQ 204/2025 reduction: a signed golden
 * with the reduced total is accepted (204 LTBao 2); the same invoice with its total before the reduction is refused
 * (LTBao 7, H105 naming TgTTTBSo and the reduction), though it is validly signed.
 */
import { describe, expect, it } from "vitest";
import { buildTdiep206, type EnvelopeConfig, newMtdiep } from "../../src/forward/batch.js";
import { amountInWords, assembleHdon, lookupQr, renderDlhdon } from "../../src/invoice/index.js";
import { examine } from "../../src/sandbox/authority.js";
import { vnDateTime } from "../../src/shared/clock.js";
import { createSigner, createTestIdentity, loadPkcs12 } from "../../src/sign/index.js";
import { buildCase } from "../invoice/fixtures.js";

const envelope: EnvelopeConfig = {
  pban: "2.1.1",
  mngui: "0100000099",
  mnnhan: "TCT",
  mst: "8000000002",
  invoiceSignatures: "keep",
};
const identity = createTestIdentity({ commonName: "Hộ thử", taxCode: "8000000002" });
const signer = createSigner(loadPkcs12(identity.pfx, identity.password));

function submit(hdon: string) {
  const now = Date.parse("2026-12-31T14:00:00Z");
  const xml = buildTdiep206({
    envelope,
    mtdiep: newMtdiep(envelope.mngui),
    invoices: [Buffer.from(hdon)],
    signer,
    signingTime: vnDateTime(now),
  });
  const out = examine(xml, { now, replyDelayMs: 0, trustedCertPem: identity.certPem, isTaken: () => false });
  if (out.kind !== "answered") throw new Error(out.reason);
  return out;
}

describe("sandbox: sales invoices under NQ 204/2025", () => {
  const signed = buildCase("sales-reduction-2026-12-31", signer).hdon;

  it("accepts the reduced total, in both placements", () => {
    expect(submit(signed)).toMatchObject({ verdict: "ok", acceptedMccqts: ["M2-26-A1B2C-00000001234"] });
    expect(submit(buildCase("household-sales", signer).hdon)).toMatchObject({ verdict: "ok" });
  });

  it("refuses the total before the reduction and says why", () => {
    // A validly signed invoice whose producer wrote the total before the reduction (words and QR agree with it).
    const c = buildCase("sales-reduction-2026-12-31");
    const draft = { ...c.draft, TgTTTBSo: 213_250, TgTTTBChu: amountInWords(213_250) };
    const { id, xml: dlhdon } = renderDlhdon(draft, c.ctx);
    const qr = lookupQr({ ...c.ctx, sellerTaxCode: c.ctx.seller.taxCode, total: draft.TgTTTBSo });
    const signature = signer.signEnveloped({
      refId: id,
      canonical: dlhdon,
      signatureId: `${id}-NBan`,
      signingTime: "2026-12-31T21:00:00",
    });
    const bad = assembleHdon({ dlhdon, qr, mccqt: c.context.mccqt, signature });
    const out = submit(bad);
    expect(out.verdict).toBe("invoices");
    expect(out.rejectedInvoices).toBe(1);
    const reply = out.replies[1]?.xml ?? "";
    expect(reply).toContain("<LTBao>7</LTBao>");
    expect(reply).toMatch(
      /<MLoi>H105<\/MLoi><MTLoi>2;C26MHK;1234; TToan\/TgTTTBSo: TgTTTBSo 213\.250 đ khác tổng các dòng 213\.250 đ trừ số tiền giảm theo NQ 204\/2025 767 đ/,
    );
  });
});
