/**
 * The lookup QR (`DLQRCode`, ≤ 512 characters): EMVCo-MPM-style TLV with the invoice lookup block in template 99
 * (addendum §2a). It does not carry the MCCQT; the receipt prints both.
 */

/** Maximum `DLQRCode` length (spec §2.3). */
export const QR_MAX_LENGTH = 512;

/** The GUID in template 99, sub-tag 00 (addendum §2a; the GDT portal leaves it empty). */
export const LOOKUP_GUID = "A000000775";

/** What the lookup block needs. */
export interface LookupQrInput {
  /** Seller MST, 10 digits or 10-3 for a branch. */
  readonly sellerTaxCode: string;
  readonly khmshdon: string;
  readonly khhdon: string;
  /** Written unpadded. */
  readonly shdon: number;
  /** `NLap`, YYYY-MM-DD; written as yyyyMMdd. */
  readonly nlap: string;
  /** `TgTTTBSo` in whole đồng. */
  readonly total: number | bigint;
  /** Append `6304` + CRC-16/CCITT-FALSE (default true, addendum §2a recommendation; the GDT portal omits it) [U]. */
  readonly crc?: boolean;
  /**
   * Keep a branch MST's hyphen, `0102721191-001` (default true, as the GDT portal writes it and its `nbmst`
   * parameter expects); false strips it as VNPAY/AMNOTE do [U].
   */
  readonly hyphenBranch?: boolean;
  /** Point of initiation, tag 01: "11" static (default) or "12" dynamic (the GDT portal writes 12) [U]. */
  readonly initiation?: "11" | "12";
}

/** One TLV field. */
export interface TlvField {
  readonly id: string;
  readonly value: string;
}

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over the UTF-8 bytes of `s`. */
export function crc16CcittFalse(s: string): number {
  let crc = 0xffff;
  for (const byte of Buffer.from(s, "utf8")) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function tlv(id: string, value: string): string {
  if (value.length > 99) throw new RangeError(`TLV value of ${id} is longer than 99: ${value}`);
  return `${id}${String(value.length).padStart(2, "0")}${value}`;
}

/**
 * The `DLQRCode` payload: `000201` · `0102{11|12}` · `99`{00 GUID, 01 MST, 02 KHMSHDon, 03 KHHDon, 04 SHDon,
 * 05 yyyyMMdd, 06 amount} · optional `6304` + CRC (upper-case hex) computed over everything before it, `6304`
 * included (addendum §2a).
 *
 * @throws RangeError on a malformed date or a payload over 512 characters (programming errors).
 */
export function lookupQr(input: LookupQrInput): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(input.nlap)) throw new RangeError(`NLap must be YYYY-MM-DD: ${input.nlap}`);
  const mst = input.hyphenBranch === false ? input.sellerTaxCode.replace("-", "") : input.sellerTaxCode;
  const block =
    tlv("00", LOOKUP_GUID) +
    tlv("01", mst) +
    tlv("02", input.khmshdon) +
    tlv("03", input.khhdon) +
    tlv("04", String(input.shdon)) +
    tlv("05", input.nlap.replaceAll("-", "")) +
    // Whole đồng without decimals; the GDT portal writes "1425303.0", which scanners read as the same number.
    tlv("06", BigInt(input.total).toString());
  let out = tlv("00", "01") + tlv("01", input.initiation ?? "11") + tlv("99", block);
  if (input.crc !== false) {
    out += "6304";
    out += crc16CcittFalse(out).toString(16).toUpperCase().padStart(4, "0");
  }
  if (out.length > QR_MAX_LENGTH) throw new RangeError(`DLQRCode longer than ${QR_MAX_LENGTH}`);
  return out;
}

/**
 * Split a TLV string into fields (one level; parse a template's value again for its sub-fields).
 *
 * @throws RangeError on a truncated or malformed field.
 */
export function parseTlv(s: string): TlvField[] {
  const out: TlvField[] = [];
  let i = 0;
  while (i < s.length) {
    const head = s.slice(i, i + 4);
    if (!/^\d{4}$/.test(head)) throw new RangeError(`bad TLV header at ${i}: "${head}"`);
    const len = Number(head.slice(2));
    if (i + 4 + len > s.length) throw new RangeError(`TLV field ${head.slice(0, 2)} at ${i} is truncated`);
    out.push({ id: head.slice(0, 2), value: s.slice(i + 4, i + 4 + len) });
    i += 4 + len;
  }
  return out;
}

/** The lookup facts of a `DLQRCode`, and whether its CRC (if any) is right. */
export interface LookupQrFacts {
  readonly guid: string;
  readonly sellerTaxCode: string;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: string;
  /** yyyyMMdd */
  readonly date: string;
  /** As written, e.g. "130400" or "1425303.0". */
  readonly total: string;
  readonly crc: "ok" | "bad" | "absent";
}

/**
 * Read the lookup block (template 99) of a `DLQRCode`, e.g. to check it against the invoice.
 *
 * @throws RangeError when the string is not TLV or has no template 99.
 */
export function parseLookupQr(s: string): LookupQrFacts {
  const fields = parseTlv(s);
  const block = fields.find((f) => f.id === "99");
  if (!block) throw new RangeError("no lookup block (tag 99) in DLQRCode");
  const sub = new Map(parseTlv(block.value).map((f) => [f.id, f.value]));
  const crcField = fields.at(-1)?.id === "63" ? fields.at(-1) : undefined;
  let crc: LookupQrFacts["crc"] = "absent";
  if (crcField) {
    const expected = crc16CcittFalse(s.slice(0, s.length - 4))
      .toString(16)
      .toUpperCase()
      .padStart(4, "0");
    crc = crcField.value.toUpperCase() === expected ? "ok" : "bad";
  }
  const get = (id: string): string => sub.get(id) ?? "";
  return {
    guid: get("00"),
    sellerTaxCode: get("01"),
    khmshdon: get("02"),
    khhdon: get("03"),
    shdon: get("04"),
    date: get("05"),
    total: get("06"),
    crc,
  };
}
