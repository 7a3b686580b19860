/**
 * Our own XMLDSig verifier for invoices and batches (ours or anyone's): every `ds:Signature` in a document is checked
 * on a parsed DOM with our c14n (src/sign/c14n.ts). xml-crypto and xmlsec1 are test oracles only.
 *
 * Deliberately narrow: same-document `#id` (or `""`) references only; transforms enveloped-signature, C14N 1.0 and
 * exclusive c14n; SHA-256/SHA-1 digests; RSA-SHA256/RSA-SHA1 signatures; the key from KeyInfo/X509Data (or the
 * trusted certificate itself). Anything else is reported as a problem, never silently skipped.
 */
import { createHash, verify, X509Certificate } from "node:crypto";
import type { Document, Element, Node } from "@xmldom/xmldom";
import { type C14nOptions, canonicalize, parseXml, XmlInputError } from "./c14n.js";
import { ALG, DSIG_NS, parseSigningTime } from "./dsig.js";
import { certificateProblemAt, subjectName } from "./pkcs12.js";

/** The verdict on one `<Signature>`. */
export interface SignatureReport {
  /** Every reference digest, the signature value, trust (when asked) and validity (when a time is known) hold. */
  readonly ok: boolean;
  /** `Signature/@Id`, if any. */
  readonly signatureId?: string;
  /** Where the Signature sits, e.g. `/HDon/DSCKS/NBan/Signature`. */
  readonly path: string;
  /** Subject (RFC 2253 style) of the certificate the signature verified with, else of the first KeyInfo one. */
  readonly signerSubject?: string;
  /** That certificate as PEM. */
  readonly signerCertificatePem?: string;
  /** SigningTime text (SignatureProperty/SigningTime, or XAdES SigningTime) as written. */
  readonly signingTime?: string;
  /** Whether `signingTime` lies inside a referenced (hence signed) element. */
  readonly signingTimeSigned: boolean;
  /** The Ids of the referenced elements, in Reference order (as far as checking got). */
  readonly referencedIds: string[];
  /** Paths of the referenced elements, e.g. `/HDon/DLHDon`, so callers can check what exactly was signed. */
  readonly referencedPaths: string[];
  /** The first problem, Vietnamese first, English in parentheses. */
  readonly problem?: string;
}

/** The verdict on a document. */
export interface VerifyReport {
  /** At least one signature, and every signature ok. */
  readonly ok: boolean;
  /** One report per `ds:Signature`, in document order. */
  readonly signatures: SignatureReport[];
  /** The first problem in the document (parse error, no signature, or the first failing signature's problem). */
  readonly problem?: string;
}

/** Options of {@link verifySignatures}. */
export interface VerifyOptions {
  /**
   * PEM of the certificate to trust. The signer certificate must equal it or chain to it (issued and signed by it,
   * possibly through CA certificates carried in KeyInfo). Without it only integrity is checked: any KeyInfo
   * certificate is accepted.
   */
  readonly trustedCertPem?: string;
  /**
   * Instant (epoch ms) at which the signer certificate must be valid. Default: the signing time when it is signed,
   * otherwise validity is not checked (so old invoices still verify after the certificate expires).
   */
  readonly atMs?: number;
}

const EXC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ID_ATTRS = ["Id", "ID", "id"] as const;

const C14N_METHODS: Readonly<Record<string, { exclusive: boolean; withComments: boolean }>> = {
  [ALG.c14n]: { exclusive: false, withComments: false },
  [ALG.c14nWithComments]: { exclusive: false, withComments: true },
  [ALG.excC14n]: { exclusive: true, withComments: false },
  [ALG.excC14nWithComments]: { exclusive: true, withComments: true },
};
const DIGESTS: Readonly<Record<string, string>> = { [ALG.sha256]: "sha256", [ALG.sha1]: "sha1" };
const SIGNATURES: Readonly<Record<string, string>> = { [ALG.rsaSha256]: "sha256", [ALG.rsaSha1]: "sha1" };

/** A verification failure with its plain-words message. */
class Problem extends Error {}

function children(el: Element, localName: string, ns: string | null = DSIG_NS): Element[] {
  const out: Element[] = [];
  for (let c = el.firstChild; c; c = c.nextSibling) {
    if (c.nodeType === 1 && c.localName === localName && (ns === null || c.namespaceURI === ns)) out.push(c as Element);
  }
  return out;
}

function one(el: Element, localName: string, what: string): Element {
  const found = children(el, localName);
  if (found.length !== 1) {
    throw new Problem(
      `Chữ ký thiếu hoặc thừa phần tử ${localName} (${what} must have exactly one ds:${localName}, found ${found.length})`,
    );
  }
  return found[0] as Element;
}

function text(el: Element): string {
  return el.textContent ?? "";
}

function decodeBase64(el: Element, what: string): Buffer {
  const b64 = text(el).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new Problem(`${what} không phải base64 hợp lệ (${what} is not valid base64)`);
  }
  return Buffer.from(b64, "base64");
}

function elementPath(el: Element): string {
  const parts: string[] = [];
  for (let n: Node | null = el; n && n.nodeType === 1; n = n.parentNode) {
    const e = n as Element;
    const parent = e.parentNode;
    let name = e.tagName;
    if (parent && parent.nodeType === 1) {
      const same = children(parent as Element, e.localName ?? "", e.namespaceURI);
      if (same.length > 1) name += `[${same.indexOf(e) + 1}]`;
    }
    parts.unshift(name);
  }
  return `/${parts.join("/")}`;
}

function isInside(node: Node, ancestor: Node): boolean {
  for (let n: Node | null = node; n; n = n.parentNode) if (n === ancestor) return true;
  return false;
}

/** Every element carrying an `Id`/`ID`/`id` attribute, by value. */
function indexIds(doc: Document): Map<string, Element[]> {
  const ids = new Map<string, Element[]>();
  const all = doc.getElementsByTagName("*");
  for (let i = 0; i < all.length; i++) {
    const el = all.item(i);
    if (!el) continue;
    const values = new Set<string>();
    for (const a of ID_ATTRS) if (el.hasAttribute(a)) values.add(el.getAttribute(a) ?? "");
    for (const v of values) {
      const list = ids.get(v);
      if (list) list.push(el);
      else ids.set(v, [el]);
    }
  }
  return ids;
}

/** c14n options from a CanonicalizationMethod or Transform element, or undefined when it is not a c14n. */
function c14nOf(el: Element): C14nOptions | undefined {
  const method = C14N_METHODS[el.getAttribute("Algorithm") ?? ""];
  if (!method) return undefined;
  const prefixes = children(el, "InclusiveNamespaces", EXC_NS)[0]?.getAttribute("PrefixList");
  return method.exclusive && prefixes
    ? { ...method, inclusivePrefixes: prefixes.split(/\s+/).filter((p) => p !== "") }
    : method;
}

interface Context {
  readonly doc: Document;
  readonly ids: Map<string, Element[]>;
  readonly trusted: X509Certificate | undefined;
  readonly atMs: number | undefined;
}

/** Follows issuer links from `cert` through CA certificates in `pool` to `trusted`. */
function chainsTo(cert: X509Certificate, trusted: X509Certificate, pool: readonly X509Certificate[]): boolean {
  const issuedBy = (child: X509Certificate, ca: X509Certificate): boolean =>
    ca.ca && child.checkIssued(ca) && child.verify(ca.publicKey);
  let current = cert;
  const seen = new Set<X509Certificate>([cert]);
  for (;;) {
    if (current.raw.equals(trusted.raw) || issuedBy(current, trusted)) return true;
    const next = pool.find((c) => !seen.has(c) && issuedBy(current, c));
    if (!next) return false;
    seen.add(next);
    current = next;
  }
}

function findSigningTime(sig: Element, sigId: string | undefined): Element | undefined {
  const all = sig.getElementsByTagName("*");
  let fallback: Element | undefined;
  for (let i = 0; i < all.length; i++) {
    const el = all.item(i);
    if (el?.localName !== "SigningTime") continue;
    const parent = el.parentNode as Element | null;
    // Ours / TT78: SignatureProperty[@Target=#sig]; XAdES: SignedSignatureProperties.
    if (parent?.localName === "SignedSignatureProperties") return el;
    if (parent?.localName === "SignatureProperty") {
      const target = parent.getAttribute("Target");
      if (sigId === undefined || target === null || target === `#${sigId}`) return el;
    }
    fallback ??= el;
  }
  return fallback;
}

function verifyOne(sig: Element, ctx: Context): SignatureReport {
  const sigId = sig.getAttribute("Id") ?? undefined;
  const referencedIds: string[] = [];
  const referencedPaths: string[] = [];
  const referenced: Node[] = [];
  const timeEl = findSigningTime(sig, sigId);
  const signingTime = timeEl ? text(timeEl).trim() : undefined;
  let signer: X509Certificate | undefined;
  const report = (problem?: string): SignatureReport => {
    const signingTimeSigned = timeEl !== undefined && referenced.some((r) => isInside(timeEl, r));
    return {
      ok: problem === undefined,
      ...(sigId !== undefined && { signatureId: sigId }),
      path: elementPath(sig),
      ...(signer && { signerSubject: subjectName(signer), signerCertificatePem: signer.toString() }),
      ...(signingTime !== undefined && { signingTime }),
      signingTimeSigned,
      referencedIds,
      referencedPaths,
      ...(problem !== undefined && { problem }),
    };
  };

  try {
    const signedInfo = one(sig, "SignedInfo", "Signature");
    const signatureValue = decodeBase64(one(sig, "SignatureValue", "Signature"), "SignatureValue");

    // KeyInfo certificates: the signer is the one the signature verifies with (checked below).
    const certs: X509Certificate[] = [];
    for (const keyInfo of children(sig, "KeyInfo")) {
      for (const data of children(keyInfo, "X509Data")) {
        for (const c of children(data, "X509Certificate")) {
          try {
            certs.push(new X509Certificate(decodeBase64(c, "X509Certificate")));
          } catch (cause) {
            if (cause instanceof Problem) throw cause;
            throw new Problem("Chứng thư số trong KeyInfo không đọc được (unreadable X509Certificate in KeyInfo)");
          }
        }
      }
    }
    signer = certs[0];

    const cm = one(signedInfo, "CanonicalizationMethod", "SignedInfo");
    const siC14n = c14nOf(cm);
    if (!siC14n) {
      throw new Problem(
        `Phương pháp chuẩn hoá không được hỗ trợ (unsupported CanonicalizationMethod ${cm.getAttribute("Algorithm")})`,
      );
    }
    const sm = one(signedInfo, "SignatureMethod", "SignedInfo").getAttribute("Algorithm") ?? "";
    const sigHash = SIGNATURES[sm];
    if (!sigHash) throw new Problem(`Thuật toán ký không được hỗ trợ (unsupported SignatureMethod ${sm})`);

    const references = children(signedInfo, "Reference");
    if (references.length === 0) throw new Problem("Chữ ký không có tham chiếu nào (SignedInfo has no Reference)");
    for (const ref of references) checkReference(ref, sig, ctx, referencedIds, referencedPaths, referenced);

    const signedBytes = Buffer.from(canonicalize(signedInfo, siC14n), "utf8");
    const candidates = ctx.trusted ? [...certs, ctx.trusted] : certs;
    if (candidates.length === 0) {
      throw new Problem("Chữ ký không kèm chứng thư số (no X509Certificate in KeyInfo)");
    }
    const verifiedBy = candidates.find(
      (c) => c.publicKey.asymmetricKeyType === "rsa" && verify(sigHash, signedBytes, c.publicKey, signatureValue),
    );
    if (!verifiedBy) {
      throw new Problem("Giá trị chữ ký không hợp lệ (SignatureValue does not verify with the KeyInfo certificate)");
    }
    signer = verifiedBy;
    checkXadesSigningCertificate(sig, verifiedBy, referenced);

    if (ctx.trusted && !chainsTo(verifiedBy, ctx.trusted, certs)) {
      throw new Problem(
        "Chứng thư ký không được tin cậy (signer certificate is neither the trusted certificate nor issued by it)",
      );
    }
    const signedTime =
      timeEl && signingTime !== undefined && referenced.some((r) => isInside(timeEl, r))
        ? parseSigningTime(signingTime)
        : undefined;
    const at = ctx.atMs ?? signedTime;
    if (at !== undefined) {
      const invalid = certificateProblemAt(verifiedBy, at);
      if (invalid !== undefined) throw new Problem(invalid);
    }
    return report();
  } catch (e) {
    if (e instanceof Problem) return report(e.message);
    return report(`Lỗi khi kiểm tra chữ ký (internal error: ${e instanceof Error ? e.message : String(e)})`);
  }
}

const XADES_NAMESPACES = new Set(["http://uri.etsi.org/01903/v1.3.2#", "http://uri.etsi.org/01903/v1.4.1#"]);

/**
 * XAdES-BES (ETSI TS 101 903 §7.2.2): when the signature carries signed `xades:SigningCertificate`, one of its
 * `Cert/CertDigest` must be the digest of the certificate the signature verified with — otherwise the signed
 * properties name someone else. Unsigned properties are not trusted, so they are not checked here.
 */
function checkXadesSigningCertificate(sig: Element, signer: X509Certificate, referenced: readonly Node[]): void {
  const all = sig.getElementsByTagName("*");
  const digests: Element[] = [];
  for (let i = 0; i < all.length; i++) {
    const el = all.item(i);
    if (el?.localName === "CertDigest" && XADES_NAMESPACES.has(el.namespaceURI ?? "")) {
      if (referenced.some((r) => isInside(el, r))) digests.push(el);
    }
  }
  if (digests.length === 0) return;
  const matches = digests.some((d) => {
    const hash = DIGESTS[children(d, "DigestMethod")[0]?.getAttribute("Algorithm") ?? ""];
    const value = children(d, "DigestValue")[0];
    return (
      hash !== undefined &&
      value !== undefined &&
      createHash(hash).update(signer.raw).digest().equals(decodeBase64(value, "CertDigest"))
    );
  });
  if (!matches) {
    throw new Problem(
      "Chứng thư trong SigningCertificate không phải chứng thư đã ký (XAdES SigningCertificate does not name the signer certificate)",
    );
  }
}

function checkReference(
  ref: Element,
  sig: Element,
  ctx: Context,
  referencedIds: string[],
  referencedPaths: string[],
  referenced: Node[],
): void {
  const uri = ref.getAttribute("URI");
  let target: Element | Document;
  let label: string;
  if (uri === "") {
    target = ctx.doc;
    label = '""';
  } else if (uri?.startsWith("#") && !uri.startsWith("#xpointer(")) {
    const id = uri.slice(1);
    const found = ctx.ids.get(id) ?? [];
    if (found.length === 0) {
      throw new Problem(`Không tìm thấy phần tử được ký ${uri} (no element with Id="${id}")`);
    }
    if (found.length > 1) {
      throw new Problem(
        `Có ${found.length} phần tử cùng Id "${id}", nghi ngờ giả mạo chữ ký ` +
          `(duplicate Id "${id}", possible signature wrapping)`,
      );
    }
    target = found[0] as Element;
    label = uri;
  } else {
    throw new Problem(
      `Tham chiếu không được hỗ trợ: ${JSON.stringify(uri)} (unsupported Reference URI; only same-document #id)`,
    );
  }

  let exclude: Node | undefined;
  let c14n: C14nOptions | undefined;
  for (const transforms of children(ref, "Transforms")) {
    for (const t of children(transforms, "Transform")) {
      const alg = t.getAttribute("Algorithm") ?? "";
      if (c14n) {
        throw new Problem(`Phép biến đổi sau chuẩn hoá không được hỗ trợ (unsupported transform after c14n: ${alg})`);
      }
      if (alg === ALG.enveloped) exclude = sig;
      else c14n = c14nOf(t) ?? unsupportedTransform(alg);
    }
  }
  const dm = one(ref, "DigestMethod", "Reference").getAttribute("Algorithm") ?? "";
  const hash = DIGESTS[dm];
  if (!hash) throw new Problem(`Thuật toán băm không được hỗ trợ (unsupported DigestMethod ${dm})`);
  const expected = decodeBase64(one(ref, "DigestValue", "Reference"), "DigestValue");

  // Same-document references drop comments whatever the c14n variant (XMLDSig §4.3.3.3).
  const canonical = canonicalize(target, {
    ...(c14n ?? { exclusive: false }),
    withComments: false,
    ...(exclude && { exclude }),
  });
  const actual = createHash(hash).update(canonical, "utf8").digest();
  const name = target.nodeType === 9 ? "tài liệu" : (target as Element).tagName;
  if (!actual.equals(expected)) {
    throw new Problem(`Chữ ký không khớp nội dung ${name} (digest mismatch for ${label})`);
  }
  referenced.push(target);
  referencedIds.push(uri === "" ? "" : uri.slice(1));
  referencedPaths.push(target.nodeType === 9 ? "/" : elementPath(target as Element));
}

function unsupportedTransform(alg: string): never {
  throw new Problem(`Phép biến đổi không được hỗ trợ (unsupported Transform ${alg})`);
}

/**
 * Verifies every `ds:Signature` in `xml` (an invoice, a 206 batch, an authority message). Never throws: malformed
 * XML, a DOCTYPE or any other problem gives a report with `ok: false` and the first problem in plain words.
 */
export function verifySignatures(xml: string | Buffer, opts: VerifyOptions = {}): VerifyReport {
  try {
    return verifyDocument(xml, opts);
  } catch (e) {
    // Each signature is already checked inside its own try; this only guards the promise of never throwing.
    const detail = e instanceof Error ? e.message : String(e);
    return { ok: false, signatures: [], problem: `Lỗi khi kiểm tra chữ ký (internal error: ${detail})` };
  }
}

function verifyDocument(xml: string | Buffer, opts: VerifyOptions): VerifyReport {
  let doc: Document;
  try {
    doc = parseXml(xml);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    const problem =
      e instanceof XmlInputError && e.kind === "doctype"
        ? "Tài liệu XML chứa DOCTYPE nên bị từ chối (DOCTYPE is not allowed)"
        : `Tài liệu XML không hợp lệ (malformed XML: ${detail})`;
    return { ok: false, signatures: [], problem };
  }
  let trusted: X509Certificate | undefined;
  if (opts.trustedCertPem !== undefined) {
    try {
      trusted = new X509Certificate(opts.trustedCertPem);
    } catch {
      return {
        ok: false,
        signatures: [],
        problem: "Chứng thư tin cậy không đọc được (trustedCertPem is not a certificate)",
      };
    }
  }
  const ctx: Context = { doc, ids: indexIds(doc), trusted, atMs: opts.atMs };
  const nodes = doc.getElementsByTagNameNS(DSIG_NS, "Signature");
  const signatures: SignatureReport[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const sig = nodes.item(i);
    if (sig) signatures.push(verifyOne(sig, ctx));
  }
  if (signatures.length === 0) {
    return { ok: false, signatures, problem: "Không tìm thấy chữ ký số (no ds:Signature element)" };
  }
  const failed = signatures.find((s) => !s.ok);
  return failed?.problem !== undefined ? { ok: false, signatures, problem: failed.problem } : { ok: true, signatures };
}
