/**
 * Self-signed TEST-ONLY identities for the demo, the sandbox and tests, made at run time (nothing is downloaded and
 * no real key is ever committed). The subject says loudly that it is a test certificate.
 */
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";

/** Options of {@link createTestIdentity}. */
export interface TestIdentityOptions {
  /** The holder's name, appended to the CN after the TEST ONLY marker. Default "Cửa hàng thử nghiệm". */
  readonly commonName?: string;
  /** Tax code (MST) written as `UID=MST:<taxCode>`, as Vietnamese CAs do. Default "0100000000". */
  readonly taxCode?: string;
  /** Start of validity. Default 2020-01-01T00:00:00Z (fixed, so seeded identities are fully deterministic). */
  readonly notBefore?: Date;
  /** End of validity. Default 2049-12-31T23:59:59Z. */
  readonly notAfter?: Date;
  /**
   * Makes the key, serial number and certificate deterministic (forge's PRNG seeded from this string), so tests
   * can pin golden signatures. Slow: pure-JS key generation takes seconds. Without it node:crypto makes the key.
   */
  readonly seed?: string;
  /** RSA modulus size. Default 2048. */
  readonly bits?: number;
  /** Write a legacy 3DES / SHA-1 PFX instead of AES-256. */
  readonly legacy?: boolean;
  /** Issue the certificate from this CA instead of self-signing (for chain tests). */
  readonly issuer?: { readonly certPem: string; readonly keyPem: string };
  /** Make the certificate a CA (basicConstraints cA, keyCertSign). */
  readonly ca?: boolean;
}

/** A test identity: the PFX, its password, and the same certificate and key as PEM. */
export interface TestIdentity {
  /** PKCS#12 holding the key and certificate. */
  readonly pfx: Buffer;
  /** The PFX password. */
  readonly password: string;
  /** The certificate (PEM). */
  readonly certPem: string;
  /** The private key (PKCS#8 PEM). */
  readonly keyPem: string;
}

/** Password of every test PFX. */
export const TEST_PFX_PASSWORD = "test-only";

/** A forge PRNG whose whole output is a function of `seed`. */
function seededPrng(seed: string): forge.random.Random {
  const prng = forge.random.createInstance();
  const base = createHash("sha256").update(seed, "utf8").digest();
  let counter = 0;
  prng.seedFileSync = (needed: number): string => {
    const chunks: Buffer[] = [];
    let have = 0;
    while (have < needed) {
      const block = createHash("sha256").update(base).update(String(counter++)).digest();
      chunks.push(block);
      have += block.length;
    }
    return Buffer.concat(chunks).subarray(0, needed).toString("binary");
  };
  return prng;
}

function generateKey(bits: number, seed: string | undefined): forge.pki.rsa.PrivateKey {
  if (seed !== undefined) {
    return forge.pki.rsa.generateKeyPair({ bits, e: 0x10001, prng: seededPrng(seed) }).privateKey;
  }
  // forge's pure-JS keygen takes seconds; node's takes tens of milliseconds.
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  return forge.pki.privateKeyFromPem(privateKey.export({ type: "pkcs1", format: "pem" }).toString());
}

/**
 * Creates a TEST-ONLY RSA identity: subject `C=VN, O=<name>, UID=MST:<taxCode>,
 * OU=CHỨNG THƯ THỬ NGHIỆM – KHÔNG DÙNG THẬT, CN=TEST ONLY – <name>` (CN cut at 64 characters), self-signed unless `issuer` is given, in a PFX protected with
 * {@link TEST_PFX_PASSWORD}. With `seed`, everything but the PFX encryption salt is deterministic.
 */
export function createTestIdentity(opts: TestIdentityOptions = {}): TestIdentity {
  const name = opts.commonName ?? "Cửa hàng thử nghiệm";
  const taxCode = opts.taxCode ?? "0100000000";
  const key = generateKey(opts.bits ?? 2048, opts.seed);

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  const serial =
    opts.seed !== undefined ? createHash("sha256").update(`serial:${opts.seed}`, "utf8").digest() : randomBytes(16);
  cert.serialNumber = `01${serial.subarray(0, 15).toString("hex")}`; // leading 01: positive, fixed length
  cert.validity.notBefore = opts.notBefore ?? new Date("2020-01-01T00:00:00Z");
  cert.validity.notAfter = opts.notAfter ?? new Date("2049-12-31T23:59:59Z");
  // @types/node-forge types valueTagClass as asn1.Class, but forge compares it with asn1.Type (a tag number).
  const utf8 = forge.asn1.Type.UTF8 as number as forge.asn1.Class;
  const subject: forge.pki.CertificateField[] = [
    { shortName: "C", value: "VN" },
    { name: "organizationName", value: name, valueTagClass: utf8 },
    { type: "0.9.2342.19200300.100.1.1", value: `MST:${taxCode}`, valueTagClass: utf8 },
    { name: "organizationalUnitName", value: "CHỨNG THƯ THỬ NGHIỆM – KHÔNG DÙNG THẬT", valueTagClass: utf8 },
    // X.520 caps a CN at 64 characters; longer ones make OpenSSL (and xmlsec1) refuse the subject name.
    { name: "commonName", value: `TEST ONLY – ${name}`.slice(0, 64), valueTagClass: utf8 },
  ];
  cert.setSubject(subject);

  let signingKey = key;
  if (opts.issuer) {
    const issuerCert = forge.pki.certificateFromPem(opts.issuer.certPem);
    // forge reads UTF8String values back as raw UTF-8 bytes but encodes them again on write.
    cert.setIssuer(
      issuerCert.subject.attributes.map((a) =>
        a.valueTagClass === utf8 && typeof a.value === "string" ? { ...a, value: forge.util.decodeUtf8(a.value) } : a,
      ),
    );
    signingKey = forge.pki.privateKeyFromPem(opts.issuer.keyPem);
  } else {
    cert.setIssuer(subject);
  }
  cert.setExtensions([
    { name: "basicConstraints", cA: opts.ca ?? false, critical: true },
    opts.ca
      ? { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
      : { name: "keyUsage", digitalSignature: true, nonRepudiation: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(signingKey, forge.md.sha256.create());

  const asn1 = forge.pkcs12.toPkcs12Asn1(key, [cert], TEST_PFX_PASSWORD, {
    algorithm: opts.legacy ? "3des" : "aes256",
    generateLocalKeyId: true,
    friendlyName: "test-only",
  });
  const keyPem = forge.pki.privateKeyInfoToPem(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key)));
  return {
    pfx: Buffer.from(forge.asn1.toDer(asn1).getBytes(), "binary"),
    password: TEST_PFX_PASSWORD,
    certPem: forge.pki.certificateToPem(cert),
    keyPem,
  };
}
