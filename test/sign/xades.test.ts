/**
 * The XAdES style of the batch signature (addendum §3): exactly two References, `#<DLieu Id>` and
 * `#<xades:SignedProperties Id>`, SigningTime in XAdES 1.3.2 SignedProperties. Checked by our verifier, xml-crypto and
 * xmlsec1, and tampering fails all three.
 */
import { createHash, createPrivateKey, sign, X509Certificate } from "node:crypto";
import { DOMParser, type Element } from "@xmldom/xmldom";
import { beforeAll, describe, expect, it } from "vitest";
import { DSIG_NS } from "../../src/sign/dsig.js";
import { loadPkcs12 } from "../../src/sign/pkcs12.js";
import { createSigner, XADES_NS, XADES_SIGNED_PROPERTIES_TYPE } from "../../src/sign/signer.js";
import { createTestIdentity, type TestIdentity } from "../../src/sign/test-identity.js";
import { verifySignatures } from "../../src/sign/verify.js";
import { el, textEl } from "../../src/xml/canonical.js";
import {
  buildDlhdon,
  HAS_XMLLINT,
  HAS_XMLSEC,
  wrapHdon,
  xmlCryptoVerify,
  xmllintC14n,
  xmlsecVerify,
} from "./helpers.js";

const SIGNING_TIME = "2026-11-27T21:31:05";
let test: TestIdentity;
let batch: string;
let invoice: string;

beforeAll(() => {
  test = createTestIdentity({ commonName: "Cửa hàng XAdES", taxCode: "0101234567" });
  const signer = createSigner(loadPkcs12(test.pfx, test.password));
  // A batch whose invoices carry the ordinary XMLDSig signature and whose CKSNNT is XAdES.
  const hdon = (n: number): string => {
    const id = `DLHDon-1C26MAB-${n}`;
    const d = buildDlhdon(id, undefined, n);
    return wrapHdon(
      d,
      signer.signEnveloped({ refId: id, canonical: d, signatureId: `NBan-${n}`, signingTime: SIGNING_TIME }),
    );
  };
  const dlieu = el("DLieu", hdon(1) + hdon(2), { Id: "_0100000099ABCDEF0123456789ABCDEF01234567" });
  const cks = signer.signEnveloped({
    refId: "_0100000099ABCDEF0123456789ABCDEF01234567",
    canonical: dlieu,
    signatureId: "CKSNNT-1",
    signingTime: SIGNING_TIME,
    style: "xades",
  });
  batch = `<TDiep>${el("TTChung", textEl("MLTDiep", 206) + textEl("SLuong", 2))}${dlieu}${el("CKSNNT", cks)}</TDiep>`;
  const d = buildDlhdon("DLHDon-1C26MAB-9", undefined, 9);
  invoice = wrapHdon(
    d,
    signer.signEnveloped({
      refId: "DLHDon-1C26MAB-9",
      canonical: d,
      signatureId: "NBan-9",
      signingTime: SIGNING_TIME,
      style: "xades",
    }),
  );
});

function cksnnt(xml: string): Element {
  const doc = new DOMParser().parseFromString(xml, "text/xml");
  const sig = Array.from(doc.getElementsByTagNameNS(DSIG_NS, "Signature")).find(
    (s) => s.getAttribute("Id") === "CKSNNT-1",
  );
  if (!sig) throw new Error("no CKSNNT signature");
  return sig as Element;
}

describe("signEnveloped({ style: 'xades' })", () => {
  it("has exactly two References: the data and the typed SignedProperties", () => {
    const sig = cksnnt(batch);
    const refs = Array.from(sig.getElementsByTagNameNS(DSIG_NS, "Reference"));
    expect(refs.map((r) => [r.getAttribute("URI"), r.getAttribute("Type")])).toEqual([
      ["#_0100000099ABCDEF0123456789ABCDEF01234567", null],
      ["#CKSNNT-1-SignedProperties", XADES_SIGNED_PROPERTIES_TYPE],
    ]);
    const props = sig.getElementsByTagNameNS(XADES_NS, "SignedProperties");
    expect(props.length).toBe(1);
    expect(props[0]?.getAttribute("Id")).toBe("CKSNNT-1-SignedProperties");
    expect(sig.getElementsByTagNameNS(XADES_NS, "QualifyingProperties")[0]?.getAttribute("Target")).toBe("#CKSNNT-1");
  });

  it("signs the time with the Vietnam offset and names the signing certificate", () => {
    const sig = cksnnt(batch);
    expect(sig.getElementsByTagNameNS(XADES_NS, "SigningTime")[0]?.textContent).toBe(`${SIGNING_TIME}+07:00`);
    const cert = new X509Certificate(test.certPem);
    expect(sig.getElementsByTagNameNS(DSIG_NS, "X509SerialNumber")[0]?.textContent).toBe(
      BigInt(`0x${cert.serialNumber}`).toString(10),
    );
    expect(sig.getElementsByTagNameNS(DSIG_NS, "X509IssuerName")[0]?.textContent).toBe(
      cert.issuer.split("\n").reverse().join(", "),
    );
    expect(sig.toString()).not.toContain("<SignatureProperties>");
  });

  it("verifies with our verifier, which reads the signed XAdES time", () => {
    const report = verifySignatures(batch, { trustedCertPem: test.certPem });
    expect(report.problem).toBeUndefined();
    expect(report.signatures.at(-1)).toMatchObject({
      ok: true,
      signatureId: "CKSNNT-1",
      path: "/TDiep/CKSNNT/Signature",
      signingTime: `${SIGNING_TIME}+07:00`,
      signingTimeSigned: true,
      referencedIds: ["_0100000099ABCDEF0123456789ABCDEF01234567", "CKSNNT-1-SignedProperties"],
    });
    expect(verifySignatures(invoice, { trustedCertPem: test.certPem }).ok).toBe(true);
  });

  it("verifies with xml-crypto", () => {
    expect(xmlCryptoVerify(batch, test.certPem, "CKSNNT-1")).toBe(true);
    expect(xmlCryptoVerify(invoice, test.certPem)).toBe(true);
  });

  it("is deterministic", () => {
    const signer = createSigner(loadPkcs12(test.pfx, test.password));
    const d = buildDlhdon("X");
    const args = { refId: "X", canonical: d, signatureId: "S", signingTime: SIGNING_TIME, style: "xades" } as const;
    expect(signer.signEnveloped(args)).toBe(signer.signEnveloped(args));
  });

  const TAMPER = {
    "an invoice inside DLieu": (x: string) => x.replace("<SHDon>2</SHDon>", "<SHDon>3</SHDon>"),
    "the XAdES SigningTime": (x: string) => x.replace(`${SIGNING_TIME}+07:00`, "2026-11-27T21:31:06+07:00"),
    "the certificate serial": (x: string) =>
      x.replace(/<X509SerialNumber>(\d+)</, (_, n: string) => `<X509SerialNumber>${BigInt(n) + 1n}<`),
  } as const;

  it.each(Object.keys(TAMPER) as (keyof typeof TAMPER)[])("a change to %s fails our verifier and xml-crypto", (k) => {
    const bad = TAMPER[k](batch);
    expect(bad).not.toBe(batch);
    const report = verifySignatures(bad, { trustedCertPem: test.certPem });
    expect(report.signatures.at(-1)?.ok).toBe(false);
    expect(xmlCryptoVerify(bad, test.certPem, "CKSNNT-1")).toBe(false);
  });

  it("refuses a validly signed SigningCertificate that names another certificate", () => {
    // Re-sign the invoice with its own key after pointing CertDigest at a stranger's certificate.
    const stranger = createTestIdentity({ commonName: "Người khác" });
    const strangerDigest = createHash("sha256").update(new X509Certificate(stranger.certPem).raw).digest("base64");
    const swapped = invoice.replace(
      /(<xades:CertDigest>.*?<DigestValue>)[^<]+/,
      (_, head: string) => `${head}${strangerDigest}`,
    );
    const props =
      /<xades:SignedProperties Id="NBan-9-SignedProperties">.*?<\/xades:SignedProperties>/.exec(swapped)?.[0] ?? "";
    const propsC14n = props.replace(
      "<xades:SignedProperties ",
      `<xades:SignedProperties xmlns="${DSIG_NS}" xmlns:xades="${XADES_NS}" `,
    );
    const withDigest = swapped.replace(
      /(URI="#NBan-9-SignedProperties">.*?<DigestValue>)[^<]+/,
      (_, head: string) => `${head}${createHash("sha256").update(propsC14n, "utf8").digest("base64")}`,
    );
    const signedInfo = /<SignedInfo>.*?<\/SignedInfo>/.exec(withDigest)?.[0] ?? "";
    const value = sign(
      "sha256",
      Buffer.from(signedInfo.replace("<SignedInfo>", `<SignedInfo xmlns="${DSIG_NS}">`), "utf8"),
      createPrivateKey(test.keyPem),
    ).toString("base64");
    const forged = withDigest.replace(/<SignatureValue>[^<]+/, `<SignatureValue>${value}`);
    // Every digest and the signature value hold (xml-crypto accepts it), but the signed properties name a stranger.
    expect(xmlCryptoVerify(forged, test.certPem)).toBe(true);
    const report = verifySignatures(forged, { trustedCertPem: test.certPem });
    expect(report.ok).toBe(false);
    expect(report.problem).toMatch(/^Chứng thư trong SigningCertificate không phải chứng thư đã ký/);
  });

  describe.skipIf(!HAS_XMLSEC)("against xmlsec1", () => {
    // xmlsec1 registers the Ids inside <Signature> itself, xades:SignedProperties included.
    const args = (id: string): string[] => [
      "--id-attr:Id",
      "DLieu",
      "--id-attr:Id",
      "DLHDon",
      "--node-xpath",
      `//*[local-name()='Signature' and @Id='${id}']`,
    ];

    it("verifies the XAdES batch signature (2/2 references)", () => {
      const r = xmlsecVerify(batch, test.certPem, args("CKSNNT-1"));
      expect(r.stderr).toContain("SignedInfo References (ok/all): 2/2");
      expect(r.status).toBe(0);
      const inv = xmlsecVerify(invoice, test.certPem, args("NBan-9"));
      expect(inv.status).toBe(0);
    });

    it.each(Object.keys(TAMPER) as (keyof typeof TAMPER)[])("a change to %s fails", (k) => {
      const r = xmlsecVerify(TAMPER[k](batch), test.certPem, args("CKSNNT-1"));
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/FAIL|ERROR/);
    });
  });

  it.skipIf(!HAS_XMLLINT)("keeps the signed document a C14N fixed point", () => {
    expect(xmllintC14n(batch)).toBe(batch);
  });
});
