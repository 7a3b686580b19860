/**
 * The XMLDSig signer: canonical by construction, no DOM, node:crypto for RSA (signing.md §2 "Layout signed", §5).
 *
 * The element being signed arrives already canonical (src/xml/canonical.ts writes it so), and every part of the
 * Signature is written canonically here, so what we hash is exactly what we emit. The one twist is that C14N puts
 * the `xmlns` inherited from `<Signature>` on an apex element: SignedInfo and SignatureProperty are hashed with
 * ` xmlns="http://www.w3.org/2000/09/xmldsig#"` inserted, and emitted without it.
 */
import { createHash, sign, type X509Certificate } from "node:crypto";
import { DaemonError } from "../shared/errors.js";
import { el, isSafeId, textEl } from "../xml/canonical.js";
import { ALG, DSIG_NS, parseVnDateTime } from "./dsig.js";
import { checkCertificateAt, type SigningIdentity, subjectName } from "./pkcs12.js";

/** Arguments of {@link XmlSigner.signEnveloped}. */
export interface SignEnvelopedArgs {
  /** The `Id` of the signed element (`DLHDon/@Id`, or `DLieu/@Id` for a 206 batch). Must pass `isSafeId`. */
  readonly refId: string;
  /** The signed element's canonical (C14N 1.0) text, exactly as it appears in the document; hashed as UTF-8. */
  readonly canonical: string;
  /** `Signature/@Id`; the SigningTime property gets `<signatureId>-SigningTime`. Must pass `isSafeId`. */
  readonly signatureId: string;
  /** `YYYY-MM-DDThh:mm:ss`, Vietnam local time (spec §5.2). The certificate must be valid at this instant. */
  readonly signingTime: string;
}

/** Signs canonical XML elements with one identity. */
export interface XmlSigner {
  /** The signer's certificate (written into KeyInfo). */
  readonly certificate: X509Certificate;
  /**
   * An enveloped `<Signature>` over the element with Id=`refId` whose canonical (C14N 1.0) text is `canonical`,
   * returned in canonical form, ready to be placed in `DSCKS/NBan` (invoice) or `TDiep/CKSNNT` (batch).
   * Deterministic: the same arguments give the same bytes.
   *
   * @throws RangeError for an unsafe id, a malformed signing time, or `canonical` not being the `refId` element
   * @throws DaemonError `CERTIFICATE_INVALID` when the certificate is not valid at `signingTime`
   */
  signEnveloped(args: SignEnvelopedArgs): string;
}

const sha256 = (s: string): string => createHash("sha256").update(s, "utf8").digest("base64");

const empty = (name: string, algorithm: string): string => el(name, "", { Algorithm: algorithm });

/** The start tag of a canonical element: its name and its attribute text. */
const START_TAG = /^<([A-Za-z_][\w.-]*)((?: [^\s=]+="[^"]*")*)>/;

/**
 * A signer for `identity`. The key must be RSA and match the certificate.
 *
 * @throws DaemonError `SIGNING_KEY_UNREADABLE` for a non-RSA key, `CERTIFICATE_INVALID` when the certificate does not
 *   belong to the key
 */
export function createSigner(identity: SigningIdentity): XmlSigner {
  const { privateKey, certificate } = identity;
  if (privateKey.asymmetricKeyType !== "rsa") {
    throw new DaemonError(
      "SIGNING_KEY_UNREADABLE",
      `Khoá riêng không phải RSA (the signing key is ${privateKey.asymmetricKeyType ?? "unknown"}, RSA is required)`,
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new DaemonError(
      "CERTIFICATE_INVALID",
      "Chứng thư số không khớp với khoá riêng (the certificate does not match the private key)",
    );
  }
  const keyInfo = el(
    "KeyInfo",
    el(
      "X509Data",
      textEl("X509SubjectName", subjectName(certificate)) +
        textEl("X509Certificate", certificate.raw.toString("base64")),
    ),
  );

  return {
    certificate,
    signEnveloped({ refId, canonical, signatureId, signingTime }: SignEnvelopedArgs): string {
      if (!isSafeId(refId)) throw new RangeError(`unsafe refId: ${JSON.stringify(refId)}`);
      if (!isSafeId(signatureId)) throw new RangeError(`unsafe signatureId: ${JSON.stringify(signatureId)}`);
      const atMs = parseVnDateTime(signingTime);
      if (atMs === undefined) {
        throw new RangeError(`signingTime must be YYYY-MM-DDThh:mm:ss (VN local), got ${JSON.stringify(signingTime)}`);
      }
      const start = START_TAG.exec(canonical);
      if (!start?.[2]?.includes(` Id="${refId}"`) || !canonical.endsWith(`</${start[1]}>`)) {
        throw new RangeError(`canonical is not one element with Id="${refId}"`);
      }
      checkCertificateAt(certificate, atMs);

      const propAttrs = { Id: `${signatureId}-SigningTime`, Target: `#${signatureId}` };
      const signingTimeEl = textEl("SigningTime", signingTime);
      const property = el("SignatureProperty", signingTimeEl, propAttrs);
      const propertyC14n = el("SignatureProperty", signingTimeEl, { xmlns: DSIG_NS, ...propAttrs });

      const digest = (value: string): string => empty("DigestMethod", ALG.sha256) + textEl("DigestValue", value);
      const signedInfoBody =
        empty("CanonicalizationMethod", ALG.c14n) +
        empty("SignatureMethod", ALG.rsaSha256) +
        el(
          "Reference",
          el("Transforms", empty("Transform", ALG.enveloped) + empty("Transform", ALG.c14n)) +
            digest(sha256(canonical)),
          { URI: `#${refId}` },
        ) +
        el("Reference", el("Transforms", empty("Transform", ALG.c14n)) + digest(sha256(propertyC14n)), {
          URI: `#${propAttrs.Id}`,
        });
      const signedInfoC14n = el("SignedInfo", signedInfoBody, { xmlns: DSIG_NS });
      const signatureValue = sign("sha256", Buffer.from(signedInfoC14n, "utf8"), privateKey).toString("base64");

      return el(
        "Signature",
        el("SignedInfo", signedInfoBody) +
          textEl("SignatureValue", signatureValue) +
          keyInfo +
          el("Object", el("SignatureProperties", property), { Id: `${signatureId}-Object` }),
        { xmlns: DSIG_NS, Id: signatureId },
      );
    },
  };
}
