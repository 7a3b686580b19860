import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import forge from "node-forge";
import { beforeAll, describe, expect, it } from "vitest";
import {
  certificateValidity,
  checkCertificateAt,
  loadPkcs12,
  loadSigningIdentity,
  subjectName,
} from "../../src/sign/pkcs12.js";
import { createSigner } from "../../src/sign/signer.js";
import { createTestIdentity, type TestIdentity } from "../../src/sign/test-identity.js";
import { HAS_OPENSSL, tempDir } from "./helpers.js";

const code = (c: string): unknown => expect.objectContaining({ name: "DaemonError", code: c });

let modern: TestIdentity;
let legacy: TestIdentity;

beforeAll(() => {
  modern = createTestIdentity({ commonName: "Cửa hàng A", taxCode: "0101234567" });
  legacy = createTestIdentity({ commonName: "Cửa hàng B", taxCode: "0101234567-001", legacy: true });
});

/** The encryption OIDs inside a PFX, to prove which format a fixture really is. */
function pfxOids(pfx: Buffer): string[] {
  const out = new Set<string>();
  const walk = (a: forge.asn1.Asn1): void => {
    if (a.type === forge.asn1.Type.OID && typeof a.value === "string") out.add(forge.asn1.derToOid(a.value));
    if (Array.isArray(a.value)) for (const c of a.value) walk(c);
    else if (a.type === forge.asn1.Type.OCTETSTRING && typeof a.value === "string" && a.value.length > 0) {
      try {
        walk(forge.asn1.fromDer(a.value));
      } catch {
        // encrypted or not DER: nothing to see
      }
    }
  };
  walk(forge.asn1.fromDer(forge.util.createBuffer(pfx.toString("binary"))));
  return [...out];
}

const OID_PBES2 = "1.2.840.113549.1.5.13";
const OID_AES256_CBC = "2.16.840.1.101.3.4.1.42";
const OID_PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3";
const OID_PBE_SHA1_RC2_40 = "1.2.840.113549.1.12.1.6";

describe("loadPkcs12", () => {
  it("opens an AES-256 (PBES2) file and converts the key to a node KeyObject", () => {
    expect(pfxOids(modern.pfx)).toEqual(expect.arrayContaining([OID_PBES2, OID_AES256_CBC]));
    const id = loadPkcs12(modern.pfx, modern.password);
    expect(id.privateKey.type).toBe("private");
    expect(id.privateKey.asymmetricKeyType).toBe("rsa");
    expect(id.certificate.checkPrivateKey(id.privateKey)).toBe(true);
    expect(id.certificatePem).toBe(id.certificate.toString());
    expect(id.chainPem).toEqual([]);
    expect(subjectName(id.certificate)).toBe(
      "CN=TEST ONLY – Cửa hàng A, OU=CHỨNG THƯ THỬ NGHIỆM – KHÔNG DÙNG THẬT, UID=MST:0101234567, O=Cửa hàng A, C=VN",
    );
  });

  it("opens a legacy 3DES / SHA-1 file", () => {
    expect(pfxOids(legacy.pfx)).toContain(OID_PBE_SHA1_3DES);
    const id = loadPkcs12(legacy.pfx, legacy.password);
    expect(id.certificate.subject).toContain("UID=MST:0101234567-001");
  });

  it("picks the certificate that matches the key, not the first bag", () => {
    const ca = createTestIdentity({ commonName: "CA thử nghiệm", ca: true });
    const leaf = createTestIdentity({ commonName: "Người bán", issuer: ca });
    const p12 = forge.pkcs12.toPkcs12Asn1(
      forge.pki.privateKeyFromPem(leaf.keyPem),
      [forge.pki.certificateFromPem(ca.certPem), forge.pki.certificateFromPem(leaf.certPem)],
      "pw",
      { algorithm: "aes256" },
    );
    const id = loadPkcs12(Buffer.from(forge.asn1.toDer(p12).getBytes(), "binary"), "pw");
    expect(id.certificate.subject).toContain("Người bán");
    expect(id.chainPem).toHaveLength(1);
    expect(id.chainPem[0]).toContain("BEGIN CERTIFICATE");
    expect(id.certificate.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });

  it("gives SIGNING_PASSWORD_WRONG for a wrong password (modern and legacy)", () => {
    expect(() => loadPkcs12(modern.pfx, "wrong")).toThrow(code("SIGNING_PASSWORD_WRONG"));
    expect(() => loadPkcs12(legacy.pfx, "")).toThrow(code("SIGNING_PASSWORD_WRONG"));
    expect(() => loadPkcs12(modern.pfx, "wrong")).toThrow(/^Sai mật khẩu .*\(wrong password/);
  });

  it("gives SIGNING_KEY_UNREADABLE for garbage, a PEM file or a PFX without a key", () => {
    expect(() => loadPkcs12(Buffer.from("not a keystore"), "x")).toThrow(code("SIGNING_KEY_UNREADABLE"));
    expect(() => loadPkcs12(Buffer.alloc(0), "x")).toThrow(code("SIGNING_KEY_UNREADABLE"));
    expect(() => loadPkcs12(Buffer.from(modern.certPem), "x")).toThrow(code("SIGNING_KEY_UNREADABLE"));
    const certDer = Buffer.from(
      forge.asn1.toDer(forge.pki.certificateToAsn1(forge.pki.certificateFromPem(modern.certPem))).getBytes(),
      "binary",
    );
    expect(() => loadPkcs12(certDer, "x")).toThrow(code("SIGNING_KEY_UNREADABLE"));
    const certOnly = forge.pkcs12.toPkcs12Asn1(null, [forge.pki.certificateFromPem(modern.certPem)], "pw");
    expect(() => loadPkcs12(Buffer.from(forge.asn1.toDer(certOnly).getBytes(), "binary"), "pw")).toThrow(
      /không chứa khoá riêng/,
    );
  });

  it("gives CERTIFICATE_INVALID when no certificate matches the key", () => {
    const other = createTestIdentity();
    const p12 = forge.pkcs12.toPkcs12Asn1(
      forge.pki.privateKeyFromPem(modern.keyPem),
      [forge.pki.certificateFromPem(other.certPem)],
      "pw",
    );
    expect(() => loadPkcs12(Buffer.from(forge.asn1.toDer(p12).getBytes(), "binary"), "pw")).toThrow(
      code("CERTIFICATE_INVALID"),
    );
  });
});

describe.skipIf(!HAS_OPENSSL)("loadPkcs12 with files made by OpenSSL 3", () => {
  let dir: string;
  const openssl = (...args: string[]): void => {
    execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  };

  beforeAll(() => {
    dir = tempDir();
    writeFileSync(join(dir, "key.pem"), modern.keyPem);
    writeFileSync(join(dir, "cert.pem"), modern.certPem);
    openssl(
      "pkcs12",
      "-export",
      "-inkey",
      "key.pem",
      "-in",
      "cert.pem",
      "-passout",
      "pass:123456",
      "-out",
      "modern.p12",
    );
    openssl(
      "pkcs12",
      "-export",
      "-legacy",
      "-inkey",
      "key.pem",
      "-in",
      "cert.pem",
      "-passout",
      "pass:123456",
      "-out",
      "legacy.p12",
    );
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.pem");
    openssl(
      "req",
      "-x509",
      "-new",
      "-key",
      "ec.pem",
      "-subj",
      "/CN=EC test only",
      "-days",
      "30",
      "-out",
      "ec-cert.pem",
    );
    openssl("pkcs12", "-export", "-inkey", "ec.pem", "-in", "ec-cert.pem", "-passout", "pass:123456", "-out", "ec.p12");
  });

  it("opens the default (PBES2/AES-256, SHA-256 MAC) export", () => {
    const pfx = readFileSync(join(dir, "modern.p12"));
    expect(pfxOids(pfx)).toEqual(expect.arrayContaining([OID_PBES2, OID_AES256_CBC]));
    const id = loadPkcs12(pfx, "123456");
    expect(id.certificate.raw.equals(loadPkcs12(modern.pfx, modern.password).certificate.raw)).toBe(true);
    expect(() => loadPkcs12(pfx, "654321")).toThrow(code("SIGNING_PASSWORD_WRONG"));
  });

  it("opens a -legacy (RC2-40 / 3DES, SHA-1 MAC) export", () => {
    const pfx = readFileSync(join(dir, "legacy.p12"));
    expect(pfxOids(pfx)).toEqual(expect.arrayContaining([OID_PBE_SHA1_RC2_40, OID_PBE_SHA1_3DES]));
    expect(loadPkcs12(pfx, "123456").certificate.subject).toContain("TEST ONLY");
    expect(() => loadPkcs12(pfx, "654321")).toThrow(code("SIGNING_PASSWORD_WRONG"));
  });

  it("opens files protected by a Vietnamese (non-ASCII) password, modern and legacy", () => {
    for (const legacyFlag of [[], ["-legacy"]]) {
      const out = `vi${legacyFlag.length}.p12`;
      openssl(
        "pkcs12",
        "-export",
        ...legacyFlag,
        "-inkey",
        "key.pem",
        "-in",
        "cert.pem",
        "-passout",
        "pass:mật khẩu",
        "-out",
        out,
      );
      const pfx = readFileSync(join(dir, out));
      expect(loadPkcs12(pfx, "mật khẩu").certificate.subject, out).toContain("TEST ONLY");
      expect(() => loadPkcs12(pfx, "mat khau"), out).toThrow(code("SIGNING_PASSWORD_WRONG"));
      expect(() => loadPkcs12(pfx, "mật khẩu!"), out).toThrow(code("SIGNING_PASSWORD_WRONG"));
    }
  });

  it("opens an EC keystore (forge cannot decode the key) but the signer refuses it", () => {
    const id = loadPkcs12(readFileSync(join(dir, "ec.p12")), "123456");
    expect(id.privateKey.asymmetricKeyType).toBe("ec");
    expect(() => createSigner(id)).toThrow(code("SIGNING_KEY_UNREADABLE"));
  });

  it("reads our test PFX files back (interoperability)", () => {
    writeFileSync(join(dir, "ours.p12"), modern.pfx);
    writeFileSync(join(dir, "ours-legacy.p12"), legacy.pfx);
    openssl("pkcs12", "-in", "ours.p12", "-passin", "pass:test-only", "-noout");
    openssl("pkcs12", "-in", "ours-legacy.p12", "-passin", "pass:test-only", "-noout", "-legacy");
  });
});

describe("checkCertificateAt", () => {
  it("accepts the whole validity window and refuses outside it, naming the dates", () => {
    const t = createTestIdentity({
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2026-12-31T23:59:59Z"),
    });
    const cert = loadPkcs12(t.pfx, t.password).certificate;
    const { notBefore, notAfter } = certificateValidity(cert);
    expect(() => checkCertificateAt(cert, notBefore)).not.toThrow();
    expect(() => checkCertificateAt(cert, notAfter)).not.toThrow();
    expect(() => checkCertificateAt(cert, notAfter + 1000)).toThrow(code("CERTIFICATE_INVALID"));
    expect(() => checkCertificateAt(cert, notAfter + 1000)).toThrow(
      "Chứng thư số đã hết hạn tại thời điểm 2027-01-01T07:00:00 (giờ Việt Nam); hiệu lực từ 2026-01-01T07:00:00 đến " +
        "2027-01-01T06:59:59 (certificate expired at 2027-01-01T00:00:00Z; valid from 2026-01-01T00:00:00Z to 2026-12-31T23:59:59Z)",
    );
    expect(() => checkCertificateAt(cert, notBefore - 1000)).toThrow(/chưa có hiệu lực.*not yet valid/);
  });
});

describe("loadSigningIdentity", () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    writeFileSync(join(dir, "seller.p12"), modern.pfx, { mode: 0o600 });
    chmodSync(join(dir, "seller.p12"), 0o600);
    writeFileSync(join(dir, "pass"), `${modern.password}\n`, { mode: 0o600 });
    writeFileSync(join(dir, "pass-crlf"), `${modern.password}\r\n`, { mode: 0o600 });
    writeFileSync(join(dir, "pass-two-newlines"), `${modern.password}\n\n`, { mode: 0o600 });
  });

  it("reads the password file, ignoring one trailing newline, and gives no warning for mode 600", () => {
    const r = loadSigningIdentity({ keystore: join(dir, "seller.p12"), passwordFile: join(dir, "pass") });
    expect(r.warnings).toEqual([]);
    expect(r.identity.certificate.subject).toContain("Cửa hàng A");
    expect(
      loadSigningIdentity({ keystore: join(dir, "seller.p12"), passwordFile: join(dir, "pass-crlf") }).warnings,
    ).toEqual([]);
    expect(() =>
      loadSigningIdentity({ keystore: join(dir, "seller.p12"), passwordFile: join(dir, "pass-two-newlines") }),
    ).toThrow(code("SIGNING_PASSWORD_WRONG"));
  });

  it("reads the password from the named environment variable", () => {
    const env = { HOADON_P12_PASSWORD: modern.password };
    const r = loadSigningIdentity({ keystore: join(dir, "seller.p12"), passwordEnv: "HOADON_P12_PASSWORD" }, env);
    expect(r.identity.privateKey.asymmetricKeyType).toBe("rsa");
    expect(() => loadSigningIdentity({ keystore: join(dir, "seller.p12"), passwordEnv: "UNSET_VAR" }, env)).toThrow(
      code("CONFIG_INVALID"),
    );
    expect(() =>
      loadSigningIdentity(
        { keystore: join(dir, "seller.p12"), passwordEnv: "HOADON_P12_PASSWORD", passwordFile: join(dir, "pass") },
        env,
      ),
    ).toThrow(code("CONFIG_INVALID"));
  });

  it("warns when the keystore or password file is readable by group or others", () => {
    const loose = join(dir, "loose.p12");
    writeFileSync(loose, modern.pfx);
    chmodSync(loose, 0o644);
    const loosePass = join(dir, "loose-pass");
    writeFileSync(loosePass, modern.password);
    chmodSync(loosePass, 0o640);
    const r = loadSigningIdentity({ keystore: loose, passwordFile: loosePass });
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/^Tệp mật khẩu .* có quyền 640.*\(password file .* mode 640; run chmod 600\)$/);
    expect(r.warnings[1]).toMatch(/^Tệp khoá .* có quyền 644/);
  });

  it("gives SIGNING_KEY_UNREADABLE for a missing keystore or password file", () => {
    expect(() => loadSigningIdentity({ keystore: join(dir, "missing.p12") })).toThrow(code("SIGNING_KEY_UNREADABLE"));
    expect(() =>
      loadSigningIdentity({ keystore: join(dir, "seller.p12"), passwordFile: join(dir, "missing-pass") }),
    ).toThrow(/^Không đọc được tệp mật khẩu/);
  });
});
