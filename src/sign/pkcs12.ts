/**
 * Opening the seller's PKCS#12 keystore (signing.md §2, §5.7). node-forge only parses the container, once at
 * startup; the key becomes a node:crypto KeyObject and all signing is done by node:crypto.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import forge from "node-forge";
import { vnDateTime } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";

/** The seller's key and certificate, as loaded from the keystore. */
export interface SigningIdentity {
  /** The private key, for `crypto.sign`. */
  readonly privateKey: KeyObject;
  /** The certificate whose public key matches `privateKey`. */
  readonly certificate: X509Certificate;
  /** `certificate` as PEM. */
  readonly certificatePem: string;
  /** The other certificates in the keystore (usually the CA chain), as PEM, in file order. */
  readonly chainPem: string[];
}

function unreadable(message: string, cause?: unknown): DaemonError {
  return new DaemonError("SIGNING_KEY_UNREADABLE", message, { cause });
}

/** A forge binary string → Buffer. */
const bytes = (s: string): Buffer => Buffer.from(s, "binary");

/**
 * forge turns the password into UTF-16 for the MAC and the legacy PBEs (right), but hands its UTF-16 code units to
 * PBKDF2 for PBES2 (wrong: OpenSSL uses the UTF-8 bytes), so a non-ASCII password opens legacy files but not OpenSSL 3
 * ones. When decryption (which comes after a passing MAC) fails, retry with the UTF-8 bytes, without the MAC that
 * the first attempt has already checked.
 */
function openPfx(der: forge.asn1.Asn1, password: string): forge.pkcs12.Pkcs12Pfx {
  try {
    return forge.pkcs12.pkcs12FromAsn1(der, false, password);
  } catch (e) {
    const msg = e instanceof Error ? e.message : "";
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
    if (!/[^\x00-\x7f]/.test(password) || !/decrypt/i.test(msg) || !Array.isArray(der.value)) throw e;
    const withoutMac = forge.asn1.create(der.tagClass, der.type, true, der.value.slice(0, 2));
    return forge.pkcs12.pkcs12FromAsn1(withoutMac, false, forge.util.encodeUtf8(password));
  }
}

/**
 * Opens a PKCS#12 (.p12/.pfx) file: both the OpenSSL 3 default (PBES2/AES-256, SHA-256 MAC) and the legacy
 * RC2-40/3DES with SHA-1 MAC that many Vietnamese CA exports still use. The certificate returned is the one whose
 * public key matches the private key, not merely the first in the file.
 *
 * @throws DaemonError `SIGNING_PASSWORD_WRONG` when the password does not open the file,
 *   `SIGNING_KEY_UNREADABLE` when it is not a PKCS#12 file or holds no usable private key,
 *   `CERTIFICATE_INVALID` when no certificate in it matches the private key.
 */
export function loadPkcs12(pfx: Buffer, password: string): SigningIdentity {
  let der: forge.asn1.Asn1;
  try {
    der = forge.asn1.fromDer(forge.util.createBuffer(pfx.toString("binary")));
  } catch (cause) {
    throw unreadable("Tệp khoá không phải định dạng PKCS#12 (keystore is not a PKCS#12 file)", cause);
  }
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = openPfx(der, password);
  } catch (cause) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    if (/password|decrypt/i.test(msg)) {
      throw new DaemonError(
        "SIGNING_PASSWORD_WRONG",
        "Sai mật khẩu tệp khoá PKCS#12 (wrong password for the PKCS#12 keystore)",
        { cause },
      );
    }
    throw unreadable(`Không đọc được tệp khoá PKCS#12 (cannot read the PKCS#12 keystore: ${msg})`, cause);
  }

  const bags = p12.safeContents.flatMap((sc) => sc.safeBags);
  const keys: KeyObject[] = [];
  const certs: X509Certificate[] = [];
  for (const bag of bags) {
    try {
      if (bag.type === forge.pki.oids.pkcs8ShroudedKeyBag || bag.type === forge.pki.oids.keyBag) {
        // forge decodes RSA keys only; other key types come back as the PrivateKeyInfo ASN.1.
        keys.push(
          bag.key
            ? createPrivateKey(forge.pki.privateKeyToPem(bag.key))
            : createPrivateKey({ key: bytes(forge.asn1.toDer(bag.asn1).getBytes()), format: "der", type: "pkcs8" }),
        );
      } else if (bag.type === forge.pki.oids.certBag) {
        const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
        certs.push(new X509Certificate(bytes(forge.asn1.toDer(asn1).getBytes())));
      }
    } catch (cause) {
      throw unreadable("Tệp khoá PKCS#12 có nội dung hỏng (a PKCS#12 bag cannot be decoded)", cause);
    }
  }
  if (keys.length === 0) throw unreadable("Tệp PKCS#12 không chứa khoá riêng (no private key in the PKCS#12 file)");

  for (const privateKey of keys) {
    const certificate = certs.find((c) => c.checkPrivateKey(privateKey));
    if (certificate) {
      return {
        privateKey,
        certificate,
        certificatePem: certificate.toString(),
        chainPem: certs.filter((c) => c !== certificate).map((c) => c.toString()),
      };
    }
  }
  throw new DaemonError(
    "CERTIFICATE_INVALID",
    "Tệp PKCS#12 không có chứng thư số khớp với khoá riêng (no certificate in the PKCS#12 file matches the private key)",
  );
}

/** The validity window of a certificate as epoch ms. */
export function certificateValidity(cert: X509Certificate): { notBefore: number; notAfter: number } {
  // Node 20 has no validFromDate; validFrom is OpenSSL's "Jan  1 00:00:00 2025 GMT", which Date.parse reads.
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

/**
 * Throws unless `cert` is valid at `atMs` (epoch ms). The message gives the instant and the validity window, in
 * Vietnam local time first and UTC after.
 *
 * @throws DaemonError `CERTIFICATE_INVALID`
 */
export function checkCertificateAt(cert: X509Certificate, atMs: number): void {
  const problem = certificateProblemAt(cert, atMs);
  if (problem !== undefined) throw new DaemonError("CERTIFICATE_INVALID", problem);
}

/** What {@link checkCertificateAt} would throw, as a message, or `undefined` when the certificate is valid. */
export function certificateProblemAt(cert: X509Certificate, atMs: number): string | undefined {
  const { notBefore, notAfter } = certificateValidity(cert);
  if (atMs >= notBefore && atMs <= notAfter) return undefined;
  const iso = (ms: number): string => new Date(ms).toISOString().replace(".000", "");
  const vi = atMs < notBefore ? "chưa có hiệu lực" : "đã hết hạn";
  const en = atMs < notBefore ? "not yet valid" : "expired";
  return (
    `Chứng thư số ${vi} tại thời điểm ${vnDateTime(atMs)} (giờ Việt Nam); hiệu lực từ ${vnDateTime(notBefore)} ` +
    `đến ${vnDateTime(notAfter)} (certificate ${en} at ${iso(atMs)}; valid from ${iso(notBefore)} to ${iso(notAfter)})`
  );
}

/**
 * The certificate subject as an RFC 2253-style string (most specific first, comma-joined, special characters
 * escaped), e.g. `CN=…, UID=MST:0101234567, O=…, C=VN`: what X509SubjectName carries (spec §5.2).
 */
export function subjectName(cert: X509Certificate): string {
  // node prints one RDN per line in DER order with RFC 2253 escaping already applied to the values.
  return cert.subject.split("\n").reverse().join(", ");
}

/** Where {@link loadSigningIdentity} finds the keystore and its password (config `signing:`). */
export interface SigningKeySource {
  /** Path of the PKCS#12 file. */
  readonly keystore: string;
  /** Path of a file holding the password; one trailing newline is ignored. */
  readonly passwordFile?: string;
  /** Name of an environment variable holding the password. */
  readonly passwordEnv?: string;
}

/** The identity plus operator warnings (e.g. loose file permissions) for the caller to log. */
export interface LoadedSigningIdentity {
  readonly identity: SigningIdentity;
  readonly warnings: string[];
}

/** A file name in both languages, for messages. */
interface What {
  readonly vi: string;
  readonly en: string;
}

function readSecretFile(path: string, what: What, warnings: string[]): Buffer {
  let data: Buffer;
  let mode: number;
  try {
    data = readFileSync(path);
    mode = statSync(path).mode;
  } catch (cause) {
    throw unreadable(`Không đọc được ${what.vi.toLowerCase()} ${path} (cannot read the ${what.en} ${path})`, cause);
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, "0");
    warnings.push(
      `${what.vi} ${path} có quyền ${octal}, người khác có thể truy cập; nên chmod 600 ` +
        `(${what.en} ${path} is accessible by group/others, mode ${octal}; run chmod 600)`,
    );
  }
  return data;
}

/**
 * Reads the keystore and its password (from `passwordFile` or the environment variable named by `passwordEnv`;
 * with neither the password is empty) and opens it with {@link loadPkcs12}. Warns when the keystore or password file
 * can be read by group or others.
 *
 * @param env the environment to read `passwordEnv` from (tests pass their own)
 * @throws DaemonError `CONFIG_INVALID` when both or an unset password source is given,
 *   `SIGNING_KEY_UNREADABLE` when a file cannot be read, and whatever {@link loadPkcs12} throws.
 */
export function loadSigningIdentity(
  source: SigningKeySource,
  env: Readonly<Record<string, string | undefined>> = process.env,
): LoadedSigningIdentity {
  const warnings: string[] = [];
  if (source.passwordFile !== undefined && source.passwordEnv !== undefined) {
    throw new DaemonError(
      "CONFIG_INVALID",
      "Chỉ khai báo một trong passwordFile hoặc passwordEnv (give either signing.passwordFile or signing.passwordEnv, not both)",
    );
  }
  let password = "";
  if (source.passwordFile !== undefined) {
    password = readSecretFile(source.passwordFile, { vi: "Tệp mật khẩu", en: "password file" }, warnings)
      .toString("utf8")
      .replace(/\r?\n$/, "");
  } else if (source.passwordEnv !== undefined) {
    const value = env[source.passwordEnv];
    if (value === undefined) {
      throw new DaemonError(
        "CONFIG_INVALID",
        `Biến môi trường ${source.passwordEnv} chưa được đặt (environment variable ${source.passwordEnv} is not set)`,
      );
    }
    password = value;
  }
  const pfx = readSecretFile(source.keystore, { vi: "Tệp khoá", en: "keystore" }, warnings);
  return { identity: loadPkcs12(pfx, password), warnings };
}
