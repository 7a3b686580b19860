/**
 * Shared helpers of the sign tests: a small canonical DLHDon builder, and the external oracles (xmlsec1, xmllint,
 * xml-crypto).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DOMParser, type Element } from "@xmldom/xmldom";
import { SignedXml } from "xml-crypto";
import { DSIG_NS } from "../../src/sign/dsig.js";
import { el, optEl, textEl } from "../../src/xml/canonical.js";

/** Whether an executable is on PATH. */
export function hasBinary(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;
}

export const HAS_XMLSEC = hasBinary("xmlsec1");
export const HAS_XMLLINT = hasBinary("xmllint");
export const HAS_OPENSSL = hasBinary("openssl");

/** A fresh temporary directory. */
export function tempDir(prefix = "hoadon-sign-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface InvoiceLine {
  readonly name: string;
  readonly unit: string;
  readonly qty: number;
  readonly price: number;
}

export const DEFAULT_LINES: readonly InvoiceLine[] = [
  { name: "Cà phê sữa đá", unit: "Ly", qty: 2, price: 25_000 },
  { name: "Bánh mì & trà <đặc biệt>", unit: "Phần", qty: 1, price: 35_000 },
  { name: "Nước suối Đảnh Thạnh", unit: "Chai", qty: 3, price: 8_000 },
];

/** A realistic (TT78-shaped, cash-register) canonical DLHDon, built with src/xml/canonical.ts. */
export function buildDlhdon(id: string, lines: readonly InvoiceLine[] = DEFAULT_LINES, number = 123): string {
  const items = lines
    .map((l, i) =>
      el(
        "HHDVu",
        textEl("TChat", 1) +
          textEl("STT", i + 1) +
          textEl("THHDVu", l.name) +
          textEl("DVTinh", l.unit) +
          textEl("SLuong", l.qty) +
          textEl("DGia", l.price) +
          textEl("ThTien", l.qty * l.price) +
          textEl("TSuat", "8%"),
      ),
    )
    .join("");
  const net = lines.reduce((s, l) => s + l.qty * l.price, 0);
  const tax = Math.round(net * 0.08);
  return el(
    "DLHDon",
    el(
      "TTChung",
      textEl("PBan", "2.1.0") +
        textEl("THDon", "Hóa đơn giá trị gia tăng khởi tạo từ máy tính tiền") +
        textEl("KHMSHDon", 1) +
        textEl("KHHDon", "C26MAB") +
        textEl("SHDon", number) +
        textEl("NLap", "2026-11-27") +
        textEl("DVTTe", "VND") +
        textEl("TGia", 1) +
        textEl("HTTToan", "Tiền mặt") +
        optEl("MSTTCGP", "0100109106"),
    ) +
      el(
        "NDHDon",
        el(
          "NBan",
          textEl("Ten", "Quán Cà Phê ĐÀ LẠT") +
            textEl("MST", "0101234567") +
            textEl("DChi", "12 Lý Thường Kiệt, P. Hoàn Kiếm, Hà Nội"),
        ) +
          el("NMua", textEl("Ten", "") + textEl("DChi", "")) +
          el("DSHHDVu", items) +
          el(
            "TToan",
            textEl("TgTCThue", net) +
              textEl("TgTThue", tax) +
              textEl("TgTTTBSo", net + tax) +
              textEl("TgTTTBChu", "Một trăm nghìn đồng chẵn"),
          ),
      ),
    { Id: id },
  );
}

/** The HDon around a DLHDon, with `signature` in DSCKS/NBan. */
export function wrapHdon(dlhdon: string, signature: string): string {
  return (
    `<HDon>${dlhdon}<DLQRCode>00020101021238570010A000000727012700069704070113C26MAB00000123</DLQRCode>` +
    `<MCCQT>M1-26-A1B2C-00000000123</MCCQT><DSCKS><NBan>${signature}</NBan></DSCKS></HDon>`
  );
}

/** Result of running xmlsec1 --verify. */
export interface XmlsecResult {
  readonly status: number | null;
  readonly stderr: string;
}

/** `xmlsec1 --verify` of `xml`, trusting `certPem`. `extra` adds arguments (e.g. --id-attr, --node-xpath). */
export function xmlsecVerify(xml: string, certPem: string, extra: readonly string[] = ["--id-attr:Id", "DLHDon"]) {
  const dir = tempDir();
  const file = join(dir, "signed.xml");
  const cert = join(dir, "cert.pem");
  writeFileSync(file, xml);
  writeFileSync(cert, certPem);
  const r = spawnSync(
    "xmlsec1",
    ["--verify", "--trusted-pem", cert, ...extra, "--enabled-reference-uris", "same-doc", file],
    { encoding: "utf8" },
  );
  return { status: r.status, stderr: r.stderr } satisfies XmlsecResult;
}

/** `xmlsec1 --sign` of a template with a PEM key (and certificate, which fills X509Certificate). */
export function xmlsecSign(template: string, keyPem: string, certPem: string, extra: readonly string[]): string {
  const dir = tempDir();
  const tmpl = join(dir, "tmpl.xml");
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  writeFileSync(tmpl, template);
  writeFileSync(key, keyPem);
  writeFileSync(cert, certPem);
  return execFileSync("xmlsec1", ["--sign", "--privkey-pem", `${key},${cert}`, ...extra, tmpl], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** `xmllint --c14n` (inclusive, with comments) or `--exc-c14n` of a whole document. */
export function xmllintC14n(xml: string, mode: "--c14n" | "--exc-c14n" = "--c14n"): string {
  const file = join(tempDir(), "doc.xml");
  writeFileSync(file, xml);
  return execFileSync("xmllint", [mode, file], { encoding: "utf8" });
}

/** xml-crypto 6 verification of the Signature with `Id=signatureId` (or the first), with a pinned certificate. */
export function xmlCryptoVerify(input: string, certPem: string, signatureId?: string): boolean {
  const xml = input.replace(/^\uFEFF/, ""); // xmldom (inside xml-crypto too) throws on a BOM: signing.md §2
  const doc = new DOMParser().parseFromString(xml, "text/xml");
  const all = Array.from(doc.getElementsByTagNameNS(DSIG_NS, "Signature")) as Element[];
  const sig = signatureId === undefined ? all[0] : all.find((s) => s.getAttribute("Id") === signatureId);
  if (!sig) return false;
  const sx = new SignedXml({ publicCert: certPem });
  sx.loadSignature(sig);
  try {
    return sx.checkSignature(xml);
  } catch {
    return false;
  }
}
