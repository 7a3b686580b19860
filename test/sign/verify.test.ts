import { fc, test } from "@fast-check/vitest";
import { beforeAll, describe, expect, it } from "vitest";
import { SignedXml } from "xml-crypto";
import { ALG } from "../../src/sign/dsig.js";
import { loadPkcs12 } from "../../src/sign/pkcs12.js";
import { createSigner, type XmlSigner } from "../../src/sign/signer.js";
import { createTestIdentity, type TestIdentity } from "../../src/sign/test-identity.js";
import { verifySignatures } from "../../src/sign/verify.js";
import { buildDlhdon, HAS_XMLSEC, wrapHdon, xmlCryptoVerify, xmlsecSign, xmlsecVerify } from "./helpers.js";

const REF_ID = "DLHDon-C26MAB-7";
const SIGNING_TIME = "2026-11-27T10:15:00";

let seller: TestIdentity;
let signer: XmlSigner;
let dlhdon: string;
let signed: string;

function signWith(s: XmlSigner, signingTime = SIGNING_TIME): string {
  return wrapHdon(dlhdon, s.signEnveloped({ refId: REF_ID, canonical: dlhdon, signatureId: "NBan-sig", signingTime }));
}

beforeAll(() => {
  seller = createTestIdentity({ commonName: "Quán Cà Phê ĐÀ LẠT", taxCode: "0101234567" });
  signer = createSigner(loadPkcs12(seller.pfx, seller.password));
  dlhdon = buildDlhdon(REF_ID);
  signed = signWith(signer);
});

describe("verifySignatures on bad input", () => {
  it("rejects a DOCTYPE without throwing or resolving entities", () => {
    const xxe = `<!DOCTYPE HDon [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${signed.replace("<Ten></Ten>", "<Ten>&xxe;</Ten>")}`;
    const report = verifySignatures(xxe);
    expect(report).toEqual({
      ok: false,
      signatures: [],
      problem: "Tài liệu XML chứa DOCTYPE nên bị từ chối (DOCTYPE is not allowed)",
    });
  });

  it.each([
    ["truncated", (): string => signed.slice(0, 200)],
    ["empty", (): string => ""],
    ["not XML", (): string => "hello"],
    ["invalid UTF-8", (): Buffer => Buffer.concat([Buffer.from(signed.slice(0, 50)), Buffer.from([0xc3, 0x28])])],
  ])("reports malformed XML (%s)", (_name, input) => {
    const report = verifySignatures(input());
    expect(report.ok).toBe(false);
    expect(report.problem).toMatch(/^Tài liệu XML không hợp lệ \(malformed XML: /);
  });

  it("reports a document without a signature", () => {
    expect(verifySignatures(wrapHdon(dlhdon, ""))).toEqual({
      ok: false,
      signatures: [],
      problem: "Không tìm thấy chữ ký số (no ds:Signature element)",
    });
  });

  it("reports an unreadable trusted certificate", () => {
    expect(verifySignatures(signed, { trustedCertPem: "nope" }).problem).toMatch(/trustedCertPem is not a certificate/);
  });

  test.prop([fc.string(), fc.nat(), fc.string({ maxLength: 3 })], { numRuns: 200 })(
    "never throws, whatever is spliced into a signed invoice",
    (junk, at, cut) => {
      const i = at % signed.length;
      const report = verifySignatures(signed.slice(0, i) + junk + signed.slice(i + cut.length));
      expect(typeof report.ok).toBe("boolean");
      if (!report.ok) expect(report.problem).toMatch(/\(.+\)$/);
    },
  );
});

describe("verifySignatures against signature wrapping", () => {
  it("fails when a second element carries the referenced Id", () => {
    const evil = dlhdon.replace("Cà phê sữa đá", "Cà phê miễn phí");
    const wrapped = signed.replace("<HDon>", `<HDon><Extra>${dlhdon}</Extra>`).replace(dlhdon, evil);
    const report = verifySignatures(wrapped, { trustedCertPem: seller.certPem });
    expect(report.ok).toBe(false);
    expect(report.problem).toBe(
      `Có 2 phần tử cùng Id "${REF_ID}", nghi ngờ giả mạo chữ ký (duplicate Id "${REF_ID}", possible signature wrapping)`,
    );
  });

  it("counts id and ID attributes as Ids too", () => {
    const wrapped = signed.replace("<MCCQT>", `<MCCQT id="${REF_ID}">`);
    expect(verifySignatures(wrapped).problem).toMatch(/duplicate Id/);
  });

  it("fails when the referenced element is missing", () => {
    const report = verifySignatures(signed.replace(`<DLHDon Id="${REF_ID}">`, '<DLHDon Id="other">'));
    expect(report.problem).toBe(`Không tìm thấy phần tử được ký #${REF_ID} (no element with Id="${REF_ID}")`);
  });

  it("reports where the signed element sits, so callers can insist on /HDon/DLHDon", () => {
    const moved = signed.replace(dlhdon, "").replace("<DSCKS>", `<Khac>${dlhdon}</Khac><DSCKS>`);
    const report = verifySignatures(moved);
    expect(report.ok).toBe(true);
    expect(report.signatures[0]?.referencedPaths[0]).toBe("/HDon/Khac/DLHDon");
  });
});

describe("verifySignatures and trust", () => {
  it("fails a signature by another certificate than the trusted one, and says so", () => {
    const stranger = createTestIdentity({ commonName: "Kẻ lạ" });
    const bySomeoneElse = signWith(createSigner(loadPkcs12(stranger.pfx, stranger.password)));
    expect(verifySignatures(bySomeoneElse).ok).toBe(true); // integrity only
    const report = verifySignatures(bySomeoneElse, { trustedCertPem: seller.certPem });
    expect(report.ok).toBe(false);
    expect(report.problem).toBe(
      "Chứng thư ký không được tin cậy (signer certificate is neither the trusted certificate nor issued by it)",
    );
    expect(report.signatures[0]?.signerSubject).toMatch(/Kẻ lạ/);
  });

  it("fails when KeyInfo is swapped for another certificate", () => {
    const stranger = createTestIdentity();
    const b64 = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, "");
    const swapped = signed.replace(b64(seller.certPem), b64(stranger.certPem));
    expect(swapped).not.toBe(signed);
    expect(verifySignatures(swapped).problem).toBe(
      "Giá trị chữ ký không hợp lệ (SignatureValue does not verify with the KeyInfo certificate)",
    );
  });

  it("accepts a certificate issued by the trusted CA, and refuses another CA", () => {
    const ca = createTestIdentity({ commonName: "CA thử nghiệm", ca: true });
    const otherCa = createTestIdentity({ commonName: "CA khác", ca: true });
    const leaf = createTestIdentity({ commonName: "Người bán", issuer: ca });
    const xml = signWith(createSigner(loadPkcs12(leaf.pfx, leaf.password)));
    expect(verifySignatures(xml, { trustedCertPem: ca.certPem }).ok).toBe(true);
    expect(verifySignatures(xml, { trustedCertPem: otherCa.certPem }).ok).toBe(false);
    if (HAS_XMLSEC) expect(xmlsecVerify(xml, ca.certPem).status).toBe(0);
  });

  it("checks certificate validity at the signed SigningTime by default, or at atMs", () => {
    const shortLived = createTestIdentity({
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2026-03-31T00:00:00Z"),
    });
    const xml = signWith(createSigner(loadPkcs12(shortLived.pfx, shortLived.password)), "2026-02-01T08:00:00");
    // Valid when signed, expired today: still verifies (an old invoice stays verifiable).
    expect(verifySignatures(xml).ok).toBe(true);
    const report = verifySignatures(xml, { atMs: Date.parse("2026-04-01T00:00:00Z") });
    expect(report.ok).toBe(false);
    expect(report.problem).toMatch(/^Chứng thư số đã hết hạn tại thời điểm 2026-04-01T07:00:00/);
  });
});

describe("verifySignatures on equivalent but non-canonical input", () => {
  it("still verifies (proves our c14n works on parsed input)", () => {
    const variant =
      '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\r\n' +
      signed
        .replace("<Ten></Ten>", "<Ten/>") // empty element form
        .replace("ĐÀ LẠT", "&#272;À L&#x1EA0;T") // character references
        .replace("&gt;", ">") // > need not be escaped in text
        .replace(`<DLHDon Id="${REF_ID}">`, `<DLHDon   Id='${REF_ID}' >`) // quoting and spacing
        .replace(/<SignatureProperty (Id="[^"]+") (Target="[^"]+")>/, "<SignatureProperty $2 $1>") // attribute order
        .replace(/<Signature (xmlns="[^"]+") (Id="[^"]+")>/, "<Signature $2 $1>")
        .replace(/(<\/DLHDon>|<\/DLQRCode>|<\/MCCQT>|<\/SignatureValue>|<\/KeyInfo>)/g, "$1\r\n  "); // CRLF outside
    expect(variant).not.toBe(signed);
    const report = verifySignatures(Buffer.from(variant, "utf8"), { trustedCertPem: seller.certPem });
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(xmlCryptoVerify(variant, seller.certPem)).toBe(true);
    if (HAS_XMLSEC) expect(xmlsecVerify(variant, seller.certPem).status).toBe(0);
  });

  it("fails when whitespace is added inside the signed element (re-indenting breaks signatures)", () => {
    const reindented = signed.replace("<TTChung>", "\n  <TTChung>");
    expect(verifySignatures(reindented).problem).toMatch(/digest mismatch for #DLHDon/);
  });

  it("fails when a namespace is declared on HDon after signing (inclusive c14n copies it into DLHDon)", () => {
    const withNs = signed.replace("<HDon>", '<HDon xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">');
    expect(verifySignatures(withNs).problem).toMatch(/digest mismatch for #DLHDon/);
  });
});

describe("verifySignatures on signatures made by others (xml-crypto 6)", () => {
  const signWithXmlCrypto = (opts: {
    signatureAlgorithm: string;
    digest: string;
    c14n: string;
    prefix?: string;
  }): string => {
    const sx = new SignedXml({
      privateKey: seller.keyPem,
      publicCert: seller.certPem,
      signatureAlgorithm: opts.signatureAlgorithm,
      canonicalizationAlgorithm: opts.c14n,
      getKeyInfoContent: SignedXml.getKeyInfoContent,
    });
    sx.addReference({
      xpath: "//*[local-name(.)='DLHDon']",
      transforms: [ALG.enveloped, opts.c14n],
      digestAlgorithm: opts.digest,
    });
    sx.computeSignature(wrapHdon(dlhdon, ""), {
      ...(opts.prefix !== undefined && { prefix: opts.prefix }),
      attrs: { Id: "xc-sig" },
      location: { reference: "//*[local-name(.)='NBan']", action: "append" },
    });
    return sx.getSignedXml();
  };

  it.each([
    ["rsa-sha1 / sha1 / exclusive c14n with a ds: prefix", ALG.rsaSha1, ALG.sha1, ALG.excC14n, "ds"],
    ["rsa-sha256 / sha256 / inclusive c14n with a ds: prefix", ALG.rsaSha256, ALG.sha256, ALG.c14n, "ds"],
    ["rsa-sha256 / sha256 / exclusive c14n, no prefix", ALG.rsaSha256, ALG.sha256, ALG.excC14n, undefined],
  ])("%s", (_name, signatureAlgorithm, digest, c14n, prefix) => {
    const xml = signWithXmlCrypto({ signatureAlgorithm, digest, c14n, ...(prefix !== undefined && { prefix }) });
    const report = verifySignatures(xml, { trustedCertPem: seller.certPem });
    expect(report.problem).toBeUndefined();
    expect(report.signatures[0]).toMatchObject({ ok: true, signatureId: "xc-sig", referencedIds: [REF_ID] });
    expect(report.signatures[0]?.signingTime).toBeUndefined();
  });
});

describe.skipIf(!HAS_XMLSEC)(
  "verifySignatures on a XAdES-style batch signature (AMNOTE shape, made by xmlsec1)",
  () => {
    it("reports the XAdES SigningTime and checks validity at it", () => {
      const c14n = `<Transform Algorithm="${ALG.c14n}"/>`;
      const digest = `<DigestMethod Algorithm="${ALG.sha256}"/><DigestValue/>`;
      const template =
        `<TDiep><DLieu Id="DLieu-X">${wrapHdon(dlhdon, "")}</DLieu><CKSNNT>` +
        '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#" Id="sig"><SignedInfo>' +
        `<CanonicalizationMethod Algorithm="${ALG.c14n}"/><SignatureMethod Algorithm="${ALG.rsaSha256}"/>` +
        `<Reference URI="#DLieu-X"><Transforms><Transform Algorithm="${ALG.enveloped}"/>${c14n}</Transforms>${digest}</Reference>` +
        `<Reference Type="http://uri.etsi.org/01903#SignedProperties" URI="#xades-sp"><Transforms>${c14n}</Transforms>${digest}</Reference>` +
        "</SignedInfo><SignatureValue/><KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo>" +
        '<Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#sig">' +
        '<xades:SignedProperties Id="xades-sp"><xades:SignedSignatureProperties>' +
        "<xades:SigningTime>2026-11-27T10:15:00+07:00</xades:SigningTime>" +
        "</xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></Object>" +
        "</Signature></CKSNNT></TDiep>";
      const signedBatch = xmlsecSign(template, seller.keyPem, seller.certPem, [
        "--id-attr:Id",
        "DLieu",
        "--id-attr:Id",
        "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
      ]);
      const report = verifySignatures(signedBatch, { trustedCertPem: seller.certPem });
      expect(report.problem).toBeUndefined();
      expect(report.signatures[0]).toMatchObject({
        ok: true,
        signingTime: "2026-11-27T10:15:00+07:00",
        signingTimeSigned: true,
        referencedIds: ["DLieu-X", "xades-sp"],
      });

      // The same with a certificate that expired 15 minutes before that SigningTime (03:15Z).
      const expired = createTestIdentity({ notAfter: new Date("2026-11-27T03:00:00Z") });
      const late = xmlsecSign(template, expired.keyPem, expired.certPem, [
        "--id-attr:Id",
        "DLieu",
        "--id-attr:Id",
        "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
        "--verification-gmt-time",
        "2026-11-27 02:00:00",
      ]);
      expect(verifySignatures(late).problem).toMatch(/^Chứng thư số đã hết hạn tại thời điểm 2026-11-27T10:15:00 /);
    });
  },
);

describe("verifySignatures refuses what it does not support", () => {
  const edit = (from: RegExp | string, to: string): string => {
    const out = signed.replace(from, to);
    expect(out).not.toBe(signed);
    return out;
  };

  it.each([
    [
      "an XPath transform",
      () =>
        edit(
          `<Transform Algorithm="${ALG.enveloped}"></Transform>`,
          '<Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"></Transform>',
        ),
      "Phép biến đổi không được hỗ trợ (unsupported Transform http://www.w3.org/TR/1999/REC-xpath-19991116)",
    ],
    [
      "an HMAC signature method",
      () => edit(ALG.rsaSha256, "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
      "Thuật toán ký không được hỗ trợ (unsupported SignatureMethod http://www.w3.org/2000/09/xmldsig#hmac-sha1)",
    ],
    [
      "an external reference",
      () => edit(`URI="#${REF_ID}"`, 'URI="http://example.com/x.xml"'),
      'Tham chiếu không được hỗ trợ: "http://example.com/x.xml" (unsupported Reference URI; only same-document #id)',
    ],
    [
      "an MD5 digest",
      () => edit(ALG.sha256, "http://www.w3.org/2001/04/xmldsig-more#md5"),
      "Thuật toán băm không được hỗ trợ (unsupported DigestMethod http://www.w3.org/2001/04/xmldsig-more#md5)",
    ],
    [
      "a signature without SignedInfo",
      () => edit(/<SignedInfo>.*<\/SignedInfo>/, ""),
      "Chữ ký thiếu hoặc thừa phần tử SignedInfo (Signature must have exactly one ds:SignedInfo, found 0)",
    ],
    [
      "a signature without KeyInfo",
      () => edit(/<KeyInfo>.*<\/KeyInfo>/, ""),
      "Chữ ký không kèm chứng thư số (no X509Certificate in KeyInfo)",
    ],
  ])("%s", (_name, make, problem) => {
    expect(verifySignatures(make()).problem).toBe(problem);
  });

  it("verifies against the pinned certificate when KeyInfo is absent", () => {
    const noKeyInfo = signed.replace(/<KeyInfo>.*<\/KeyInfo>/, "");
    expect(verifySignatures(noKeyInfo, { trustedCertPem: seller.certPem }).ok).toBe(true);
  });
});
