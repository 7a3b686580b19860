/**
 * Build + sign throughput of a 20-line invoice (issue 3, design.md "Performance budget"): what the write path does
 * between a validated receipt and the bytes it stores — amounts, canonical DLHDon, lookup QR, MCCQT, XMLDSig over
 * node:crypto — as a ratio to raw RSA-2048 `crypto.sign` measured in the same run. Peers, building the same invoice:
 * signing with xml-crypto 6 (DOM + c14n), and one `xmlsec1 --sign` process per invoice. Target: ≥ 0.5 of raw sign.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createPrivateKey, sign } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignedXml } from "xml-crypto";
import {
  assembleHdon,
  computeInvoice,
  dlhdonId,
  type InvoiceDraft,
  lookupQr,
  renderDlhdon,
} from "../src/invoice/index.js";
import { Receipt, type ReceiptInput } from "../src/receipt/model.js";
import { buildSignedInvoice, computeOptionsOn, type RecorderSettings } from "../src/record.js";
import { vnDateTime } from "../src/shared/clock.js";
import { ALG, createSigner, createTestIdentity, DSIG_NS, loadPkcs12, verifySignatures } from "../src/sign/index.js";
import { el, textEl } from "../src/xml/canonical.js";
import { measuredRows, type Variant } from "./measure.js";
import type { BenchOptions, BenchRow } from "./types.js";

/** Group title in the table. */
export const title = "build + sign, 20-line invoice";

const NOW = Date.parse("2026-11-27T03:15:00Z"); // 10:15 in Việt Nam
const SIGNING_TIME = vnDateTime(NOW);
const NLAP = SIGNING_TIME.slice(0, 10);

const ITEMS = [
  ["CF01", "Cà phê sữa đá", "ly", 29_000],
  ["CF02", "Bạc xỉu", "ly", 32_000],
  ["CF03", "Trà đào cam sả", "ly", 45_000],
  ["CF04", "Trà sữa trân châu đường đen", "ly", 39_000],
  ["BM01", "Bánh mì thịt nướng", "ổ", 25_000],
  ["BF01", "Bánh flan", "cái", 15_000],
  ["BI01", "Bia Sài Gòn Special lon 330ml", "lon", 19_000],
  ["TP01", "Mì Hảo Hảo tôm chua cay", "gói", 4_500],
  ["TP02", "Nước mắm Nam Ngư 500ml", "chai", 42_000],
  ["TP03", "Sữa tươi Vinamilk 1L", "hộp", 32_500],
] as const;

/** A realistic VAT-inclusive receipt of 20 goods lines, 8% and 10% (beer), one with a decimal quantity. */
export const RECEIPT_20: ReceiptInput = {
  receiptId: "BENCH-1",
  issuedAt: "2026-11-27T10:14:58+07:00",
  lines: Array.from({ length: 20 }, (_, i) => {
    const [code, name, unit, price] = ITEMS[i % ITEMS.length] as (typeof ITEMS)[number];
    const quantity = i === 7 ? "1.5" : String((i % 3) + 1);
    const amount = Math.round(Number(quantity) * price);
    return {
      code: `${code}-${i}`,
      name: `${name} (${i + 1})`,
      unit,
      quantity,
      unitPrice: price,
      amount,
      ...(code.startsWith("BI") ? { group: "beer" } : {}),
    };
  }),
  payments: [{ method: "cash", amount: 0 }],
  total: 0,
};
{
  const total = RECEIPT_20.lines.reduce((s, l) => s + (l.amount ?? 0), 0);
  Object.assign(RECEIPT_20, { total, payments: [{ method: "cash", amount: total }] });
}

/** The shop the benchmark invoices for: a VAT invoice in the 2.1 profile, beer at 10%. */
export const SETTINGS: RecorderSettings = {
  seller: {
    name: "CÔNG TY TNHH VÍ DỤ CÀ PHÊ",
    taxCode: "0100000001",
    address: "Số 1 Phố Ví Dụ, Hà Nội",
    phone: "0240000000",
  },
  providerTaxCode: "0100000099",
  form: "1",
  symbolSuffix: "AB",
  registerSuffix: {},
  mccqtBlock: "A1B2C",
  profile: "2.1",
  pban: "2.1.0",
  anonymousBuyer: { mode: "omit" },
  compute: { form: "1", toleranceDong: 0, wordsStyle: "north" },
  rates: [{ group: "beer", rate: "10%" }],
  holdRatesNotInForce: true,
  corrections: { fullRefund: "replace" },
  qrCrc: true,
};

const NUMBERS = { khmshdon: "1", khhdon: "C26MAB", shdon: 123, seq: 123 } as const;

/** The write path works out the day's rates once per day (src/record.ts), so the benchmark does too. */
const OPTIONS = computeOptionsOn(SETTINGS, NLAP);

function draftOf(receipt: Receipt): InvoiceDraft {
  const c = computeInvoice(receipt, OPTIONS);
  if (!c.ok) throw new Error(JSON.stringify(c.problems));
  return c.draft;
}

/** The unsigned HDon (DSCKS/NBan empty) and the DLHDon Id, built exactly as the write path builds it. */
function unsigned(receipt: Receipt): { hdon: string; dlhdon: string; id: string } {
  const draft = draftOf(receipt);
  const id = dlhdonId("1", NUMBERS.khhdon, NUMBERS.shdon);
  const { xml } = renderDlhdon(draft, {
    profile: "2.1",
    pban: "2.1.0",
    khmshdon: "1",
    khhdon: NUMBERS.khhdon,
    shdon: NUMBERS.shdon,
    nlap: NLAP,
    id,
    seller: SETTINGS.seller,
    providerTaxCode: SETTINGS.providerTaxCode,
    anonymousBuyer: SETTINGS.anonymousBuyer,
  });
  const qr = lookupQr({
    sellerTaxCode: "0100000001",
    khmshdon: "1",
    khhdon: NUMBERS.khhdon,
    shdon: NUMBERS.shdon,
    nlap: NLAP,
    total: draft.TgTTTBSo,
  });
  return { hdon: assembleHdon({ dlhdon: xml, qr, mccqt: "M1-26-A1B2C-00000000123" }), dlhdon: xml, id };
}

/** The xmlsec1 template: our Signature layout with empty digests, signature value and certificate. */
function xmlsecTemplate(hdon: string, id: string): string {
  const sigId = `${id}-NBan`;
  const empty = (name: string, alg: string): string => el(name, "", { Algorithm: alg });
  const ref = (uri: string, transforms: string): string =>
    el("Reference", el("Transforms", transforms) + empty("DigestMethod", ALG.sha256) + el("DigestValue", ""), {
      URI: uri,
    });
  const signature = el(
    "Signature",
    el(
      "SignedInfo",
      empty("CanonicalizationMethod", ALG.c14n) +
        empty("SignatureMethod", ALG.rsaSha256) +
        ref(`#${id}`, empty("Transform", ALG.enveloped) + empty("Transform", ALG.c14n)) +
        ref(`#${sigId}-SigningTime`, empty("Transform", ALG.c14n)),
    ) +
      el("SignatureValue", "") +
      el("KeyInfo", el("X509Data", el("X509Certificate", ""))) +
      el(
        "Object",
        el(
          "SignatureProperties",
          el("SignatureProperty", textEl("SigningTime", SIGNING_TIME), {
            Id: `${sigId}-SigningTime`,
            Target: `#${sigId}`,
          }),
        ),
        { Id: `${sigId}-Object` },
      ),
    { xmlns: DSIG_NS, Id: sigId },
  );
  return hdon.replace("<NBan></NBan>", `<NBan>${signature}</NBan>`);
}

/**
 * Measure the variants in interleaved rounds. Each variant's output is verified first (our verifier), so a broken
 * variant cannot post a figure.
 */
export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const identity = createTestIdentity({ commonName: "Benchmark", taxCode: "0100000001" });
  const signer = createSigner(loadPkcs12(identity.pfx, identity.password));
  const key = createPrivateKey(identity.keyPem);
  const receipt = Receipt.parse(RECEIPT_20);
  const rawJson = JSON.stringify(RECEIPT_20);

  // The same bytes a SignedInfo of ours has, to sign raw.
  const ours = buildSignedInvoice({
    draft: draftOf(receipt),
    receipt,
    registerId: "quay-1",
    numbers: NUMBERS,
    settings: SETTINGS,
    signer,
    now: NOW,
  });
  const signedInfo = Buffer.from(
    (/<SignedInfo>.*<\/SignedInfo>/.exec(ours.signedXml.toString("utf8"))?.[0] ?? "").replace(
      "<SignedInfo>",
      `<SignedInfo xmlns="${DSIG_NS}">`,
    ),
    "utf8",
  );

  const viaXmlCrypto = (): string => {
    const { hdon, id } = unsigned(receipt);
    const sigId = `${id}-NBan`;
    const sx = new SignedXml({
      privateKey: identity.keyPem,
      publicCert: identity.certPem,
      signatureAlgorithm: ALG.rsaSha256,
      canonicalizationAlgorithm: ALG.c14n,
      objects: [
        {
          attributes: { Id: `${sigId}-Object` },
          content: `<SignatureProperties><SignatureProperty Id="${sigId}-SigningTime" Target="#${sigId}"><SigningTime>${SIGNING_TIME}</SigningTime></SignatureProperty></SignatureProperties>`,
        },
      ],
    });
    sx.addReference({ xpath: "/HDon/DLHDon", transforms: [ALG.enveloped, ALG.c14n], digestAlgorithm: ALG.sha256 });
    sx.addReference({ xpath: `//*[@Id='${sigId}-SigningTime']`, transforms: [ALG.c14n], digestAlgorithm: ALG.sha256 });
    sx.computeSignature(hdon, { attrs: { Id: sigId }, location: { reference: "/HDon/DSCKS/NBan", action: "append" } });
    return sx.getSignedXml();
  };

  const hasXmlsec = spawnSync("sh", ["-c", "command -v xmlsec1"]).status === 0;
  const dir = mkdtempSync(join(tmpdir(), "hoadon-bench-"));
  const keyFiles = `${join(dir, "key.pem")},${join(dir, "cert.pem")}`;
  writeFileSync(join(dir, "key.pem"), identity.keyPem);
  writeFileSync(join(dir, "cert.pem"), identity.certPem);
  const viaXmlsec = (): string => {
    const { hdon, id } = unsigned(receipt);
    const tmpl = join(dir, "tmpl.xml");
    writeFileSync(tmpl, xmlsecTemplate(hdon, id));
    return execFileSync("xmlsec1", ["--sign", "--privkey-pem", keyFiles, "--id-attr:Id", "DLHDon", tmpl], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  };

  // Every variant must make a valid signed invoice, or its figure means nothing.
  const outputs: Array<[string, string]> = [
    ["hoadon", ours.signedXml.toString("utf8")],
    ["xml-crypto", viaXmlCrypto()],
    ...(hasXmlsec ? ([["xmlsec1", viaXmlsec()]] as Array<[string, string]>) : []),
  ];
  for (const [name, xml] of outputs) {
    const report = verifySignatures(xml, { trustedCertPem: identity.certPem });
    if (!report.ok) throw new Error(`${name} made an invoice that does not verify: ${report.problem}`);
  }

  const variants: Variant[] = [
    { name: "crypto.sign RSA-2048 / SHA-256 (raw)", op: () => sign("sha256", signedInfo, key) },
    {
      name: "hoadon: amounts + DLHDon + QR + XMLDSig (node:crypto)",
      op: () => {
        buildSignedInvoice({
          draft: draftOf(receipt),
          receipt,
          registerId: "quay-1",
          numbers: NUMBERS,
          settings: SETTINGS,
          signer,
          now: NOW,
        });
      },
    },
    {
      name: "hoadon, with receipt validation (zod)",
      op: () => {
        const r = Receipt.parse(JSON.parse(rawJson));
        buildSignedInvoice({
          draft: draftOf(r),
          receipt: r,
          registerId: "quay-1",
          numbers: NUMBERS,
          settings: SETTINGS,
          signer,
          now: NOW,
        });
      },
    },
    { name: "peer: same build, xml-crypto 6 signing", op: viaXmlCrypto },
    ...(hasXmlsec ? [{ name: "peer: same build, one xmlsec1 --sign process", op: viaXmlsec }] : []),
  ];
  const bytes = ours.signedXml.length;
  return [
    ...measuredRows(title, variants, opts, (m, i) =>
      i === 1 ? { note: `target ≥ 0.5: ${m.ratio >= 0.5 ? "met" : "NOT met"}; ${bytes} bytes signed` } : {},
    ),
    ...(hasXmlsec ? [] : [{ group: title, name: "peer: xmlsec1 --sign", note: "xmlsec1 not installed: skipped" }]),
  ];
}
