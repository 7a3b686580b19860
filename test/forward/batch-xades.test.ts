import { afterEach, describe, expect, it } from "vitest";
import { buildTdiep206, newMtdiep } from "../../src/forward/batch.js";
import { createHttpXmlGateway } from "../../src/forward/gateway.js";
import { type Sandbox, startSandbox } from "../../src/sandbox/index.js";
import { vnDateTime } from "../../src/shared/clock.js";
import { verifySignatures } from "../../src/sign/index.js";
import { makeInvoices, makeTestSigner } from "./support/invoices.js";

const seller = makeTestSigner();
const credentials = { username: "shop", password: "s3cret" };
let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

describe("CKSNNT as XAdES-BES (authority.batchSignature: xades)", () => {
  it("signs DLieu with SignedProperties, and the sandbox takes it as a valid batch signature", async () => {
    const mtdiep = newMtdiep("0100000099");
    const xml = buildTdiep206({
      envelope: {
        pban: "2.1.1",
        mngui: "0100000099",
        mnnhan: "TCT",
        mst: "0100000001",
        invoiceSignatures: "keep",
        signatureStyle: "xades",
      },
      mtdiep,
      invoices: makeInvoices(2, 1).map((i) => Buffer.from(i.xml)),
      signer: seller.signer,
      signingTime: vnDateTime(Date.now()),
    });
    expect(xml.toString()).toContain("xades:SignedProperties");
    const report = verifySignatures(xml, { trustedCertPem: seller.identity.certPem });
    const batchSig = report.signatures.find((s) => s.path.startsWith("/TDiep/CKSNNT/"));
    expect(batchSig).toMatchObject({ ok: true });
    expect(batchSig?.referencedPaths).toContain("/TDiep/DLieu");

    sandbox = await startSandbox({ credentials, replyDelayMs: 0, trustedCertPem: seller.identity.certPem });
    const gw = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials });
    expect((await gw.submit({ mtdiep, xml })).kind).toBe("accepted");
    const got = await gw.replies(mtdiep);
    const kinds = got.kind === "replies" ? got.replies.map((r) => r.parsed.ok && r.parsed.reply.mltdiep) : [];
    expect(kinds).toEqual(["999", "204"]);
    expect(sandbox.stats()).toMatchObject({ invoicesAccepted: 2, refused: 0 });
  });
});
