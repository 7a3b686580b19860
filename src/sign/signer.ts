/**
 * The XMLDSig signer: canonical by construction, no DOM, node:crypto for RSA (signing.md §2 "Layout signed", §5).
 *
 * The element being signed arrives already canonical (src/xml/canonical.ts writes it so), and every part of the
 * Signature is written canonically here, so what we hash is exactly what we emit. The one twist is that C14N puts
 * the `xmlns` inherited from `<Signature>` on an apex element: SignedInfo and SignatureProperty are hashed with
 * ` xmlns="http://www.w3.org/2000/09/xmldsig#"` inserted, and emitted without it (and the XAdES SignedProperties
 * with the inherited `xmlns:xades` too).
 *
 * Two styles carry the signing time (addendum §3):
 *
 * - `xmldsig` (default): a second Reference to `Object/SignatureProperties/SignatureProperty/SigningTime`, VN local
 *   time without zone (spec §5.2, the shape of real invoices).
 * - `xades`: XAdES-BES 1.3.2 — exactly two References, `#<signed element Id>` and
 *   `#<xades:SignedProperties Id>` (typed `http://uri.etsi.org/01903#SignedProperties`), the SignedProperties holding
 *   `SigningTime` (xsd:dateTime with `+07:00`) and `SigningCertificate` (SHA-256 of the certificate, issuer, decimal
 *   serial). What AMNOTE's validator demands of `TDiep/CKSNNT` (Viettel T-VAN).
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
  /**
   * The signed element's canonical (C14N 1.0) text, exactly as it appears in the document; hashed as UTF-8. A batch
   * passes its bytes: decoding 100 KB of Vietnamese to a string only to encode it again cost more than the RSA.
   */
  readonly canonical: string | Buffer;
  /** `Signature/@Id`; the SigningTime property gets `<signatureId>-SigningTime`. Must pass `isSafeId`. */
  readonly signatureId: string;
  /** `YYYY-MM-DDThh:mm:ss`, Vietnam local time (spec §5.2). The certificate must be valid at this instant. */
  readonly signingTime: string;
  /**
   * How the signing time is signed: `xmldsig` (default; `SignatureProperties`) or `xades` (XAdES-BES
   * `SignedProperties`, exactly two References). A per-gateway choice for the batch signature `CKSNNT` (addendum §3).
   */
  readonly style?: SignatureStyle;
}

/** Where a signature carries its signing time: XMLDSig `SignatureProperties` or XAdES `SignedProperties`. */
export type SignatureStyle = "xmldsig" | "xades";

/** The XAdES 1.3.2 namespace. */
export const XADES_NS = "http://uri.etsi.org/01903/v1.3.2#";

/** `Reference/@Type` of the reference to `xades:SignedProperties` (XAdES §6.3.1). */
export const XADES_SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties";

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

const sha256 = (s: string | Buffer): string =>
  (typeof s === "string" ? createHash("sha256").update(s, "utf8") : createHash("sha256").update(s)).digest("base64");

const empty = (name: string, algorithm: string): string => el(name, "", { Algorithm: algorithm });

const digestOf = (value: string): string => empty("DigestMethod", ALG.sha256) + textEl("DigestValue", value);

/** The certificate's issuer as RFC 2253 text (`CN=…` first, like `subjectName`). */
function issuerName(cert: X509Certificate): string {
  return cert.issuer.split("\n").reverse().join(", ");
}

/**
 * `xades:SigningCertificate` for `cert` (SHA-256 of its DER, issuer, decimal serial): the part of the signed
 * properties that does not change per signature, written once per signer.
 */
function xadesSigningCertificate(cert: X509Certificate): string {
  const serial = BigInt(`0x${cert.serialNumber}`).toString(10);
  return el(
    "xades:SigningCertificate",
    el(
      "xades:Cert",
      el("xades:CertDigest", digestOf(createHash("sha256").update(cert.raw).digest("base64"))) +
        el("xades:IssuerSerial", textEl("X509IssuerName", issuerName(cert)) + textEl("X509SerialNumber", serial)),
    ),
  );
}

/** The start tag of a canonical element: its name and its attribute text. */
const START_TAG = /^<([A-Za-z_][\w.-]*)((?: [^\s=]+="[^"]*")*)>/;
/** How much of a byte `canonical` is decoded to find its start tag (ours are far shorter). */
const START_TAG_MAX = 16 * 1024;

/** Whether `canonical` starts with a start tag carrying ` Id="refId"` and ends with that element's end tag. */
function isElementWithId(canonical: string | Buffer, refId: string): boolean {
  const head = typeof canonical === "string" ? canonical : canonical.toString("utf8", 0, START_TAG_MAX);
  const start = START_TAG.exec(head);
  if (!start?.[2]?.includes(` Id="${refId}"`)) return false;
  const end = `</${start[1]}>`;
  return typeof canonical === "string"
    ? canonical.endsWith(end)
    : canonical.length >= end.length && canonical.toString("utf8", canonical.length - end.length) === end;
}

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

  const signingCertificate = xadesSigningCertificate(certificate);

  return {
    certificate,
    signEnveloped({ refId, canonical, signatureId, signingTime, style = "xmldsig" }: SignEnvelopedArgs): string {
      if (!isSafeId(refId)) throw new RangeError(`unsafe refId: ${JSON.stringify(refId)}`);
      if (!isSafeId(signatureId)) throw new RangeError(`unsafe signatureId: ${JSON.stringify(signatureId)}`);
      const atMs = parseVnDateTime(signingTime);
      if (atMs === undefined) {
        throw new RangeError(`signingTime must be YYYY-MM-DDThh:mm:ss (VN local), got ${JSON.stringify(signingTime)}`);
      }
      if (!isElementWithId(canonical, refId)) throw new RangeError(`canonical is not one element with Id="${refId}"`);
      checkCertificateAt(certificate, atMs);

      // The second Reference: the signed time, as an Object the signature carries.
      let timeRef: string;
      let object: string;
      if (style === "xades") {
        const id = `${signatureId}-SignedProperties`;
        const props = el(
          "xades:SignedSignatureProperties",
          textEl("xades:SigningTime", `${signingTime}+07:00`) + signingCertificate,
        );
        // As an apex, C14N gives SignedProperties both namespaces in scope, declarations before attributes, the
        // default (xmldsig) first. Written by hand: the canonical writer sorts only unqualified attribute names.
        const propsC14n = `<xades:SignedProperties xmlns="${DSIG_NS}" xmlns:xades="${XADES_NS}" Id="${id}">${props}</xades:SignedProperties>`;
        timeRef = el("Reference", el("Transforms", empty("Transform", ALG.c14n)) + digestOf(sha256(propsC14n)), {
          Type: XADES_SIGNED_PROPERTIES_TYPE,
          URI: `#${id}`,
        });
        const qualifying =
          `<xades:QualifyingProperties xmlns:xades="${XADES_NS}" Target="#${signatureId}">` +
          el("xades:SignedProperties", props, { Id: id }) +
          "</xades:QualifyingProperties>";
        object = el("Object", qualifying, { Id: `${signatureId}-Object` });
      } else if (style === "xmldsig") {
        const propAttrs = { Id: `${signatureId}-SigningTime`, Target: `#${signatureId}` };
        const signingTimeEl = textEl("SigningTime", signingTime);
        const propertyC14n = el("SignatureProperty", signingTimeEl, { xmlns: DSIG_NS, ...propAttrs });
        timeRef = el("Reference", el("Transforms", empty("Transform", ALG.c14n)) + digestOf(sha256(propertyC14n)), {
          URI: `#${propAttrs.Id}`,
        });
        object = el("Object", el("SignatureProperties", el("SignatureProperty", signingTimeEl, propAttrs)), {
          Id: `${signatureId}-Object`,
        });
      } else {
        throw new RangeError(`unknown signature style ${JSON.stringify(style satisfies never)}`);
      }

      const signedInfoBody =
        empty("CanonicalizationMethod", ALG.c14n) +
        empty("SignatureMethod", ALG.rsaSha256) +
        el(
          "Reference",
          el("Transforms", empty("Transform", ALG.enveloped) + empty("Transform", ALG.c14n)) +
            digestOf(sha256(canonical)),
          { URI: `#${refId}` },
        ) +
        timeRef;
      const signedInfoC14n = el("SignedInfo", signedInfoBody, { xmlns: DSIG_NS });
      const signatureValue = sign("sha256", Buffer.from(signedInfoC14n, "utf8"), privateKey).toString("base64");

      return el(
        "Signature",
        el("SignedInfo", signedInfoBody) + textEl("SignatureValue", signatureValue) + keyInfo + object,
        {
          xmlns: DSIG_NS,
          Id: signatureId,
        },
      );
    },
  };
}
