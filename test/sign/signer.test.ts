import { beforeAll, describe, expect, it } from "vitest";
import { loadPkcs12, type SigningIdentity } from "../../src/sign/pkcs12.js";
import { createSigner, type XmlSigner } from "../../src/sign/signer.js";
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
  xmlsecSign,
  xmlsecVerify,
} from "./helpers.js";

const SIGNING_TIME = "2026-11-27T10:15:00";
const REF_ID = "DLHDon-C26MAB-123";

let test: TestIdentity;
let identity: SigningIdentity;
let signer: XmlSigner;
let dlhdon: string;
let signed: string;

beforeAll(() => {
  test = createTestIdentity({ commonName: "Quán Cà Phê ĐÀ LẠT", taxCode: "0101234567" });
  identity = loadPkcs12(test.pfx, test.password);
  signer = createSigner(identity);
  dlhdon = buildDlhdon(REF_ID);
  signed = wrapHdon(
    dlhdon,
    signer.signEnveloped({ refId: REF_ID, canonical: dlhdon, signatureId: "NBan-sig", signingTime: SIGNING_TIME }),
  );
});

const TAMPERED = ["DLHDon text", "SigningTime", "SignatureValue"] as const;

/** Tampered variants of the signed invoice, each of which every verifier must reject. */
function tampered(): Record<(typeof TAMPERED)[number], string> {
  const sv = /<SignatureValue>([^<]+)<\/SignatureValue>/.exec(signed)?.[1] ?? "";
  const i = 40;
  const flipped = sv.slice(0, i) + (sv[i] === "A" ? "B" : "A") + sv.slice(i + 1);
  return {
    "DLHDon text": signed.replace("<DGia>25000</DGia>", "<DGia>25001</DGia>"),
    SigningTime: signed.replace(`<SigningTime>${SIGNING_TIME}`, "<SigningTime>2026-11-27T10:15:01"),
    SignatureValue: signed.replace(sv, flipped),
  };
}

describe("signEnveloped", () => {
  it("writes the layout of signing.md §2 in canonical form", () => {
    const sig = /<Signature .*<\/Signature>/.exec(signed)?.[0] ?? "";
    expect(sig).toMatch(/^<Signature xmlns="http:\/\/www\.w3\.org\/2000\/09\/xmldsig#" Id="NBan-sig"><SignedInfo>/);
    expect(sig).toContain(
      `<Reference URI="#${REF_ID}"><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></Transform>` +
        '<Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"></Transform></Transforms>' +
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></DigestMethod><DigestValue>',
    );
    expect(sig).toContain('<Reference URI="#NBan-sig-SigningTime"><Transforms><Transform Algorithm=');
    expect(sig).toContain(
      '<Object Id="NBan-sig-Object"><SignatureProperties><SignatureProperty Id="NBan-sig-SigningTime" ' +
        `Target="#NBan-sig"><SigningTime>${SIGNING_TIME}</SigningTime></SignatureProperty></SignatureProperties></Object></Signature>`,
    );
    expect(sig).toMatch(
      /<X509SubjectName>CN=TEST ONLY – Quán Cà Phê ĐÀ LẠT, OU=CHỨNG THƯ THỬ NGHIỆM – KHÔNG DÙNG THẬT, UID=MST:0101234567, /,
    );
    expect(sig).toMatch(/<X509Certificate>[A-Za-z0-9+/=]+<\/X509Certificate>/);
    expect(sig).not.toMatch(/\s<|>\s|\/>/);
  });

  it("is deterministic", () => {
    const args = { refId: REF_ID, canonical: dlhdon, signatureId: "NBan-sig", signingTime: SIGNING_TIME };
    expect(signer.signEnveloped(args)).toBe(signer.signEnveloped(args));
  });

  it("verifies with our verifier and reports what was signed", () => {
    const report = verifySignatures(signed, { trustedCertPem: test.certPem });
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.signatures).toHaveLength(1);
    expect(report.signatures[0]).toMatchObject({
      ok: true,
      signatureId: "NBan-sig",
      path: "/HDon/DSCKS/NBan/Signature",
      signingTime: SIGNING_TIME,
      signingTimeSigned: true,
      referencedIds: [REF_ID, "NBan-sig-SigningTime"],
      referencedPaths: ["/HDon/DLHDon", "/HDon/DSCKS/NBan/Signature/Object/SignatureProperties/SignatureProperty"],
      signerSubject: identity.certificate.subject.split("\n").reverse().join(", "),
    });
  });

  it("verifies with xml-crypto 6", () => {
    expect(xmlCryptoVerify(signed, test.certPem)).toBe(true);
  });

  it.each(TAMPERED)("a changed byte in %s fails our verifier and xml-crypto", (what) => {
    const bad = tampered()[what];
    expect(bad).not.toBe(signed);
    const report = verifySignatures(bad, { trustedCertPem: test.certPem });
    expect(report.ok).toBe(false);
    const expected = {
      "DLHDon text": `Chữ ký không khớp nội dung DLHDon (digest mismatch for #${REF_ID})`,
      SigningTime: "Chữ ký không khớp nội dung SignatureProperty (digest mismatch for #NBan-sig-SigningTime)",
      SignatureValue: "Giá trị chữ ký không hợp lệ (SignatureValue does not verify with the KeyInfo certificate)",
    }[what];
    expect(report.problem).toBe(expected);
    expect(xmlCryptoVerify(bad, test.certPem)).toBe(false);
  });

  it("signs an element given as its UTF-8 bytes exactly as given as text", () => {
    const args = { refId: REF_ID, canonical: dlhdon, signatureId: "NBan-sig", signingTime: SIGNING_TIME };
    expect(Buffer.byteLength(dlhdon)).toBeGreaterThan(dlhdon.length);
    expect(signer.signEnveloped({ ...args, canonical: Buffer.from(dlhdon, "utf8") })).toBe(signer.signEnveloped(args));
    const bytes = (text: string): Buffer => Buffer.from(text, "utf8");
    expect(() => signer.signEnveloped({ ...args, canonical: bytes(`${dlhdon}<x></x>`) })).toThrow(/not one element/);
    expect(() => signer.signEnveloped({ ...args, canonical: bytes(dlhdon), refId: "DLHDon-other" })).toThrow(
      /not one element/,
    );
    expect(() => signer.signEnveloped({ ...args, canonical: Buffer.alloc(0) })).toThrow(/not one element/);
  });

  it("refuses unsafe ids, malformed signing times and a canonical text that is not the referenced element", () => {
    const ok = { refId: REF_ID, canonical: dlhdon, signatureId: "NBan-sig", signingTime: SIGNING_TIME };
    expect(() => signer.signEnveloped({ ...ok, refId: "a\nb" })).toThrow(RangeError);
    expect(() => signer.signEnveloped({ ...ok, signatureId: 'x"y' })).toThrow(RangeError);
    expect(() => signer.signEnveloped({ ...ok, signingTime: "2026-11-27 10:15:00" })).toThrow(RangeError);
    expect(() => signer.signEnveloped({ ...ok, signingTime: "2026-02-30T10:15:00" })).toThrow(RangeError);
    expect(() => signer.signEnveloped({ ...ok, refId: "DLHDon-other" })).toThrow(/not one element/);
    expect(() => signer.signEnveloped({ ...ok, canonical: `${dlhdon}<x></x>` })).toThrow(/not one element/);
  });

  it("refuses a signing time outside the certificate validity (VN local = UTC+7)", () => {
    const t = createTestIdentity({
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2026-06-30T16:59:59Z"), // 2026-06-30T23:59:59 in Việt Nam
    });
    const s = createSigner(loadPkcs12(t.pfx, t.password));
    const args = { refId: REF_ID, canonical: dlhdon, signatureId: "NBan-sig" };
    expect(() => s.signEnveloped({ ...args, signingTime: "2026-06-30T23:59:59" })).not.toThrow();
    expect(() => s.signEnveloped({ ...args, signingTime: "2026-07-01T00:00:00" })).toThrow(
      expect.objectContaining({
        code: "CERTIFICATE_INVALID",
        message: expect.stringMatching(/^Chứng thư số đã hết hạn/),
      }),
    );
    expect(() => s.signEnveloped({ ...args, signingTime: "2026-01-01T06:59:59" })).toThrow(/chưa có hiệu lực/);
  });
});

describe.skipIf(!HAS_XMLSEC)("signEnveloped against xmlsec1", () => {
  it("verifies (exit 0, OK)", () => {
    const r = xmlsecVerify(signed, test.certPem);
    expect(r.stderr).toContain("OK");
    expect(r.stderr).toContain("SignedInfo References (ok/all): 2/2");
    expect(r.status).toBe(0);
  });

  it.each(TAMPERED)("a changed byte in %s fails", (what) => {
    const r = xmlsecVerify(tampered()[what], test.certPem);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/FAIL|ERROR/);
  });
});

describe.skipIf(!HAS_XMLLINT)("the canonical DLHDon", () => {
  it("is a fixed point of xmllint --c14n", () => {
    expect(xmllintC14n(dlhdon)).toBe(dlhdon);
  });

  it("stays one inside the signed HDon (the whole invoice is canonical too)", () => {
    expect(xmllintC14n(signed)).toBe(signed);
  });
});

describe("a 206 batch (TDiep/DLieu signed into CKSNNT)", () => {
  let batch: string;

  beforeAll(() => {
    const hdon = (n: number): string => {
      const id = `DLHDon-C26MAB-${n}`;
      const d = buildDlhdon(id, undefined, n);
      return wrapHdon(
        d,
        signer.signEnveloped({ refId: id, canonical: d, signatureId: `NBan-${n}`, signingTime: SIGNING_TIME }),
      );
    };
    const ttChung =
      textEl("PBan", "2.0.1") +
      textEl("MNGui", "0101234567") +
      textEl("MNNhan", "0100109106") +
      textEl("MLTDiep", 206) +
      textEl("MTDiep", "0101234567A1B2C3D4E5F60718293A4B5C6D7E8F9") +
      textEl("MST", "0101234567") +
      textEl("SLuong", 2);
    const dlieu = el("DLieu", hdon(124) + hdon(125), { Id: "DLieu-X" });
    const cks = signer.signEnveloped({
      refId: "DLieu-X",
      canonical: dlieu,
      signatureId: "CKSNNT-sig",
      signingTime: "2026-11-27T10:16:00",
    });
    batch = `<TDiep>${el("TTChung", ttChung)}${dlieu}${el("CKSNNT", cks)}</TDiep>`;
  });

  it("verifies all three signatures with our verifier", () => {
    const report = verifySignatures(batch, { trustedCertPem: test.certPem });
    expect(report.problem).toBeUndefined();
    expect(report.signatures.map((s) => [s.signatureId, s.path, s.referencedIds[0], s.ok])).toEqual([
      ["NBan-124", "/TDiep/DLieu/HDon[1]/DSCKS/NBan/Signature", "DLHDon-C26MAB-124", true],
      ["NBan-125", "/TDiep/DLieu/HDon[2]/DSCKS/NBan/Signature", "DLHDon-C26MAB-125", true],
      ["CKSNNT-sig", "/TDiep/CKSNNT/Signature", "DLieu-X", true],
    ]);
  });

  it("verifies with xml-crypto", () => {
    for (const id of ["NBan-124", "NBan-125", "CKSNNT-sig"])
      expect(xmlCryptoVerify(batch, test.certPem, id)).toBe(true);
  });

  it("fails the batch signature (only) when an invoice inside DLieu changes", () => {
    const bad = batch.replace("<SHDon>125</SHDon>", "<SHDon>126</SHDon>");
    const report = verifySignatures(bad, { trustedCertPem: test.certPem });
    expect(report.signatures.map((s) => s.ok)).toEqual([true, false, false]);
    expect(report.problem).toBe("Chữ ký không khớp nội dung DLHDon (digest mismatch for #DLHDon-C26MAB-125)");
    expect(report.signatures[2]?.problem).toBe("Chữ ký không khớp nội dung DLieu (digest mismatch for #DLieu-X)");
  });

  it.skipIf(!HAS_XMLSEC)("verifies every signature with xmlsec1", () => {
    for (const id of ["NBan-124", "NBan-125", "CKSNNT-sig"]) {
      const r = xmlsecVerify(batch, test.certPem, [
        "--id-attr:Id",
        "DLieu",
        "--id-attr:Id",
        "DLHDon",
        "--node-xpath",
        `//*[local-name()='Signature' and @Id='${id}']`,
      ]);
      expect(r.stderr, id).toContain("OK");
      expect(r.status, id).toBe(0);
    }
  });
});

describe("golden signature (seeded test key)", () => {
  let golden: TestIdentity;
  let goldenSigned: string;

  beforeAll(() => {
    golden = createTestIdentity({ seed: "hoadon-test-only", commonName: "Quán Cà Phê ĐÀ LẠT", taxCode: "0101234567" });
    const s = createSigner(loadPkcs12(golden.pfx, golden.password));
    const d = buildDlhdon(REF_ID);
    goldenSigned = wrapHdon(
      d,
      s.signEnveloped({ refId: REF_ID, canonical: d, signatureId: "NBan-sig", signingTime: SIGNING_TIME }),
    );
  }, 60_000);

  it("pins the whole signed invoice, SignatureValue included", async () => {
    await expect(`${goldenSigned}\n`).toMatchFileSnapshot("./golden/hdon-signed.xml");
    expect(/<SignatureValue>([^<]+)</.exec(goldenSigned)?.[1]).toMatchInlineSnapshot(
      `"hQXLBXrXk82QtJrtTiDrtVr/tph4THTgmPqYaATKfDEp1Kdh+rqtZQjqPS9aG8hkKbg28KtMwpXd/8ZnDTiU4hJRlJcQlRcOTtShI4a6PnoBHCcQTBim+7G4Wjo/ri+7rUtwVUJkDA2RBJT5EQjE0R2biSumDKzrM3iRHJuf2OSf3bKZbLJWye3Cg7+3IflePo1Vn8jXmyUmvjcfq5UCEjqMIlJcxV7fUtczhULdoMh5SFcd36SbZyDJ3mkfgKc0UYB9butCmsogi+noqH02SfQeyR/T7Cz9Z6BSlxtNQNWAnCKaOzUuu4klhBr1LCqH8yqE5d0mo3Luc5TIzap/7w=="`,
    );
  });

  it.skipIf(!HAS_XMLSEC)("matches what xmlsec1 --sign computes from the same template", () => {
    const template = goldenSigned
      .replace(/<DigestValue>[^<]*<\/DigestValue>/g, "<DigestValue></DigestValue>")
      .replace(/<SignatureValue>[^<]*<\/SignatureValue>/, "<SignatureValue></SignatureValue>");
    const out = xmlsecSign(template, golden.keyPem, golden.certPem, ["--id-attr:Id", "DLHDon"]);
    const values = (xml: string): string[] =>
      [...xml.matchAll(/<(DigestValue|SignatureValue)>([^<]*)</g)].map((m) => (m[2] ?? "").replace(/\s/g, ""));
    expect(values(out)).toEqual(values(goldenSigned));
  });
});
