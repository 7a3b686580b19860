/**
 * Small, valid cash-register invoices for forwarding tests, built with the project's own pieces: the canonical
 * writer for `DLHDon`, `assembleHdon` for the `HDon`, `amountInWords` for `TgTTTBChu`, and a real (test-only)
 * seller signature over `DLHDon`. Arithmetic follows spec §6.4 so `checkArithmetic` finds nothing, unless
 * `breakTotal` asks for a wrong `TgTTTBSo`.
 */

import type { EnvelopeConfig } from "../../../src/forward/index.js";
import { amountInWords, assembleHdon, dlhdonId } from "../../../src/invoice/index.js";
import { vnDateTime } from "../../../src/shared/clock.js";
import {
  createSigner,
  createTestIdentity,
  loadPkcs12,
  type TestIdentity,
  type XmlSigner,
} from "../../../src/sign/index.js";
import { el, textEl } from "../../../src/xml/canonical.js";
import type { SeedInvoice } from "./store.js";

/** The envelope every forwarding test sends with (2.0.1, test sender and receiver codes). */
export const TEST_ENVELOPE: EnvelopeConfig = {
  pban: "2.0.1",
  mngui: "0100000099",
  mnnhan: "V0100000088",
  mst: "0100000001",
  invoiceSignatures: "keep",
};

/** A test identity and its signer (RSA key made by node:crypto; fast). */
export interface TestSigner {
  readonly identity: TestIdentity;
  readonly signer: XmlSigner;
}

/** A fresh TEST-ONLY seller identity. */
export function makeTestSigner(taxCode = "0100000001"): TestSigner {
  const identity = createTestIdentity({ taxCode, commonName: "Cà phê thử nghiệm" });
  return { identity, signer: createSigner(loadPkcs12(identity.pfx, identity.password)) };
}

/** One line: quantity × unit price at a VAT rate. */
export interface Line {
  readonly name: string;
  readonly qty: number;
  readonly price: number;
  readonly rate: 8 | 10;
}

/** Options of {@link makeInvoice}. */
export interface InvoiceOptions {
  readonly khmshdon?: string;
  readonly khhdon?: string;
  readonly shdon: number;
  /** Default: `M1-26-A1B2C-` + SHDon padded to 11 digits. */
  readonly mccqt?: string;
  readonly lines?: readonly Line[];
  /** Write a `TgTTTBSo` one đồng too high (with matching words): an arithmetic error the sandbox must catch. */
  readonly breakTotal?: boolean;
  /** Sign `DLHDon` with this signer (seller signature, optional for cash-register invoices, spec §5.1). */
  readonly signer?: XmlSigner;
  /** Epoch ms for SigningTime. */
  readonly now?: number;
  /** Pad `TTKhac` to make the invoice about this many bytes (for size-limit tests). */
  readonly padTo?: number;
}

const DEFAULT_LINES: readonly Line[] = [
  { name: "Cà phê sữa đá", qty: 2, price: 25_000, rate: 8 },
  { name: "Bia lon", qty: 1, price: 20_000, rate: 10 },
];

/** A canonical, internally consistent `HDon` and the row fields the outbox needs. */
export function makeInvoice(opts: InvoiceOptions): SeedInvoice & { readonly xml: string } {
  const khmshdon = opts.khmshdon ?? "1";
  const khhdon = opts.khhdon ?? "C26MAB";
  const mccqt = opts.mccqt ?? `M${khmshdon}-26-A1B2C-${String(opts.shdon).padStart(11, "0")}`;
  const lines = opts.lines ?? DEFAULT_LINES;
  const id = dlhdonId(khmshdon, khhdon, opts.shdon);
  const groups = new Map<number, number>();
  let hhdvu = "";
  lines.forEach((l, i) => {
    const amount = l.qty * l.price;
    groups.set(l.rate, (groups.get(l.rate) ?? 0) + amount);
    hhdvu += el(
      "HHDVu",
      textEl("TChat", 1) +
        textEl("STT", i + 1) +
        textEl("THHDVu", l.name) +
        textEl("DVTinh", "Cái") +
        textEl("SLuong", l.qty) +
        textEl("DGia", l.price) +
        textEl("ThTien", amount) +
        textEl("TSuat", `${l.rate}%`),
    );
  });
  let net = 0;
  let vat = 0;
  let ltsuat = "";
  for (const [rate, amount] of [...groups].sort((a, b) => a[0] - b[0])) {
    const tax = Math.round((amount * rate) / 100);
    net += amount;
    vat += tax;
    ltsuat += el("LTSuat", textEl("TSuat", `${rate}%`) + textEl("ThTien", amount) + textEl("TThue", tax));
  }
  const total = net + vat + (opts.breakTotal ? 1 : 0);
  const ttkhac =
    opts.padTo !== undefined
      ? el(
          "TTKhac",
          el(
            "TTin",
            textEl("TTruong", "GhiChu") + textEl("KDLieu", "string") + textEl("DLieu", "x".repeat(opts.padTo)),
          ),
        )
      : "";
  const dlhdon = el(
    "DLHDon",
    el(
      "TTChung",
      textEl("PBan", "2.0.1") +
        textEl("THDon", "Hóa đơn giá trị gia tăng") +
        textEl("KHMSHDon", khmshdon) +
        textEl("KHHDon", khhdon) +
        textEl("SHDon", opts.shdon) +
        textEl("NLap", "2026-11-20"),
    ) +
      el(
        "NDHDon",
        el(
          "NBan",
          textEl("Ten", "CÔNG TY TNHH VÍ DỤ CÀ PHÊ") +
            textEl("MST", "0100000001") +
            textEl("DChi", "Số 1 Phố Ví Dụ, Hà Nội"),
        ) +
          el("NMua", textEl("HVTNMHang", "Bán cho người tiêu dùng")) +
          el("DSHHDVu", hhdvu) +
          el(
            "TToan",
            el("THTTLTSuat", ltsuat) +
              textEl("TgTCThue", net) +
              textEl("TgTThue", vat) +
              textEl("TgTTTBSo", total) +
              textEl("TgTTTBChu", amountInWords(total)),
          ),
      ) +
      ttkhac,
    { Id: id },
  );
  const signature = opts.signer?.signEnveloped({
    refId: id,
    canonical: dlhdon,
    signatureId: `NBan-${id}`,
    signingTime: vnDateTime(opts.now ?? Date.now()),
  });
  const xml = assembleHdon({ dlhdon, qr: "", mccqt, ...(signature ? { signature } : {}) });
  return { khmshdon, khhdon, shdon: opts.shdon, mccqt, xml, total };
}

/** `n` consecutive invoices starting at SHDon `from`. */
export function makeInvoices(
  n: number,
  from = 1,
  opts: Omit<InvoiceOptions, "shdon"> = {},
): (SeedInvoice & { xml: string })[] {
  return Array.from({ length: n }, (_, i) => makeInvoice({ ...opts, shdon: from + i }));
}
