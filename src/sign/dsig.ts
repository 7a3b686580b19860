/**
 * XMLDSig constants and the time helpers the signer and the verifier share (spec §5.2, signing.md §2).
 */
import { VN_OFFSET_MS, vnDateTime } from "../shared/clock.js";

/** Namespace of `<Signature>` and its children. */
export const DSIG_NS = "http://www.w3.org/2000/09/xmldsig#";

/** Algorithm identifiers we write or accept. */
export const ALG = {
  /** Inclusive Canonical XML 1.0 without comments (what we sign with). */
  c14n: "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
  /** Inclusive Canonical XML 1.0 with comments (one T-VAN uses it for SignedInfo, spec §5.2). */
  c14nWithComments: "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
  /** Exclusive XML Canonicalization 1.0 without comments. */
  excC14n: "http://www.w3.org/2001/10/xml-exc-c14n#",
  /** Exclusive XML Canonicalization 1.0 with comments. */
  excC14nWithComments: "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
  /** The enveloped-signature transform. */
  enveloped: "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
  /** RSA PKCS#1 v1.5 with SHA-256 (what we sign with). */
  rsaSha256: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  /** RSA PKCS#1 v1.5 with SHA-1 (accepted when verifying 2021–2023 data). */
  rsaSha1: "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
  /** SHA-256 digest. */
  sha256: "http://www.w3.org/2001/04/xmlenc#sha256",
  /** SHA-1 digest (accepted when verifying). */
  sha1: "http://www.w3.org/2000/09/xmldsig#sha1",
} as const;

const VN_LOCAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;
const ZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * Epoch ms of a `YYYY-MM-DDThh:mm:ss` Vietnam local time (UTC+7), the SigningTime form of spec §5.2, or `undefined`
 * when the text is not exactly that form or names a date that does not exist (e.g. 30 February).
 */
export function parseVnDateTime(text: string): number | undefined {
  if (!VN_LOCAL.test(text)) return undefined;
  const ms = Date.parse(`${text}Z`) - VN_OFFSET_MS;
  return Number.isNaN(ms) || vnDateTime(ms) !== text ? undefined : ms;
}

/**
 * Epoch ms of a SigningTime as found in signatures: VN local time without a zone (our form), or an xsd:dateTime
 * with `Z` or an offset (XAdES). `undefined` when it is neither.
 */
export function parseSigningTime(text: string): number | undefined {
  const local = parseVnDateTime(text);
  if (local !== undefined) return local;
  if (!ZONED.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
