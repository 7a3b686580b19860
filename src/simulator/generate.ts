/**
 * Seeded, realistic Vietnamese receipts for the simulator, the demo and tests: café and grocery baskets with full
 * diacritics, VAT-inclusive prices, 8 % for most goods, 10 % for beer, wine and cigarettes (excluded from the
 * reduction), 5 % for fresh food, sugar and medicine, KCT for textbooks and newspapers; decimal quantities for goods
 * sold by weight. Totals add up exactly: amount = round(qty × unitPrice) − discount, total = Σ amount = Σ payments.
 */
import type { DayClose } from "../../drivers/ndjson/encode.js";
import type { ReceiptInput } from "../receipt/model.js";
import { vnDateTime } from "../shared/clock.js";
import { lineAmount } from "../shared/money.js";
import { seededRandom } from "../shared/random.js";

interface Item {
  readonly code: string;
  readonly name: string;
  readonly unit: string;
  readonly price: number;
  readonly vatRate: "5%" | "8%" | "10%" | "KCT";
  readonly group?: string;
  /** Sold by weight: decimal quantities. */
  readonly weighed?: boolean;
}

const CAFE: readonly Item[] = [
  { code: "CF01", name: "Cà phê đen đá", unit: "ly", price: 25_000, vatRate: "8%" },
  { code: "CF02", name: "Cà phê sữa đá", unit: "ly", price: 29_000, vatRate: "8%" },
  { code: "CF03", name: "Bạc xỉu", unit: "ly", price: 32_000, vatRate: "8%" },
  { code: "CF04", name: "Trà đào cam sả", unit: "ly", price: 45_000, vatRate: "8%" },
  { code: "CF05", name: "Trà sữa trân châu đường đen", unit: "ly", price: 39_000, vatRate: "8%" },
  { code: "CF06", name: "Sinh tố bơ", unit: "ly", price: 42_000, vatRate: "8%" },
  { code: "CF07", name: "Nước ép dưa hấu", unit: "ly", price: 35_000, vatRate: "8%" },
  { code: "CF08", name: "Bánh mì thịt nướng", unit: "ổ", price: 25_000, vatRate: "8%" },
  { code: "CF09", name: "Bánh flan", unit: "cái", price: 15_000, vatRate: "8%" },
  { code: "CF10", name: "Bánh sừng bò bơ tỏi", unit: "cái", price: 28_000, vatRate: "8%" },
  { code: "BI01", name: "Bia Sài Gòn Special lon 330ml", unit: "lon", price: 19_000, vatRate: "10%", group: "beer" },
  { code: "BI03", name: "Bia Tiger Crystal lon 330ml", unit: "lon", price: 21_000, vatRate: "10%", group: "beer" },
];

const GROCERY: readonly Item[] = [
  { code: "TP01", name: "Mì Hảo Hảo tôm chua cay", unit: "gói", price: 4_500, vatRate: "8%" },
  { code: "TP02", name: "Nước mắm Nam Ngư 500ml", unit: "chai", price: 42_000, vatRate: "8%" },
  { code: "TP03", name: "Dầu ăn Simply 1 lít", unit: "chai", price: 62_000, vatRate: "8%" },
  { code: "TP04", name: "Nước suối Lavie 500ml", unit: "chai", price: 6_000, vatRate: "8%" },
  { code: "TP05", name: "Kem đánh răng P/S 180g", unit: "tuýp", price: 32_000, vatRate: "8%" },
  { code: "TP06", name: "Bột giặt OMO 800g", unit: "túi", price: 55_000, vatRate: "8%" },
  { code: "TP07", name: "Sữa tươi Vinamilk không đường 1 lít", unit: "hộp", price: 36_000, vatRate: "8%" },
  { code: "TS01", name: "Gạo ST25", unit: "kg", price: 38_000, vatRate: "5%", weighed: true },
  { code: "TS02", name: "Thịt ba chỉ heo", unit: "kg", price: 145_000, vatRate: "5%", weighed: true },
  { code: "TS03", name: "Cá basa phi lê", unit: "kg", price: 89_000, vatRate: "5%", weighed: true },
  { code: "TS04", name: "Rau muống", unit: "bó", price: 12_000, vatRate: "5%" },
  { code: "TS05", name: "Cà chua Đà Lạt", unit: "kg", price: 32_000, vatRate: "5%", weighed: true },
  { code: "TS06", name: "Đường kính trắng Biên Hòa 1kg", unit: "túi", price: 28_000, vatRate: "5%" },
  { code: "TS07", name: "Thuốc hạ sốt Paracetamol 500mg", unit: "hộp", price: 25_000, vatRate: "5%" },
  { code: "BI01", name: "Bia Sài Gòn Special lon 330ml", unit: "lon", price: 19_000, vatRate: "10%", group: "beer" },
  { code: "BI02", name: "Bia Hà Nội lon 330ml", unit: "lon", price: 16_000, vatRate: "10%", group: "beer" },
  { code: "RU01", name: "Rượu vang Đà Lạt đỏ 750ml", unit: "chai", price: 145_000, vatRate: "10%", group: "wine" },
  { code: "TL01", name: "Thuốc lá Vinataba", unit: "bao", price: 30_000, vatRate: "10%", group: "tobacco" },
  { code: "KC01", name: "Sách giáo khoa Toán 6", unit: "cuốn", price: 23_000, vatRate: "KCT" },
  { code: "KC02", name: "Báo Tuổi Trẻ", unit: "tờ", price: 8_000, vatRate: "KCT" },
];

const WEIGHTS = ["0.3", "0.5", "0.75", "1", "1.2", "1.5", "2.35"] as const;

/** Tax codes with a valid check digit; one branch code. */
const COMPANIES = [
  {
    name: "Công ty TNHH Thương mại Sao Việt",
    taxCode: "0312345673",
    address: "12 Nguyễn Huệ, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
  },
  {
    name: "Công ty Cổ phần Đầu tư Hồng Hà",
    taxCode: "0101689530",
    address: "45 Phố Huế, Phường Ngô Thì Nhậm, Quận Hai Bà Trưng, Hà Nội",
  },
  {
    name: "Công ty TNHH Kỹ thuật Điện Đà Nẵng - Chi nhánh Hội An",
    taxCode: "0402156783-001",
    address: "88 Trần Hưng Đạo, Phường Minh An, Hội An, Quảng Nam",
  },
] as const;
const PEOPLE = [
  { personName: "Nguyễn Thị Thu Hằng", citizenId: "079190012345" },
  { personName: "Trần Văn Đức", citizenId: "001085067891" },
] as const;

/** Options of {@link generateReceipts}. */
export interface GenerateOptions {
  /** Same seed, same receipts. */
  readonly seed: number;
  readonly count: number;
  /** Prefix of receipt ids and the simulated device serial (default `QUAY1`). */
  readonly registerId?: string;
  /** Time of the first sale (ms since epoch); later sales follow 20 s – 6 min apart. */
  readonly startMs: number;
  /** Number of the first receipt (default 1). */
  readonly firstNumber?: number;
  /** Basket style (default: a mix). */
  readonly shop?: "cafe" | "grocery" | "mixed";
}

/** Seeded realistic receipts (ReceiptInput, the wire shape). */
export function generateReceipts(options: GenerateOptions): ReceiptInput[] {
  const rnd = seededRandom(options.seed);
  const int = (min: number, max: number): number => min + Math.floor(rnd() * (max - min + 1));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const registerId = options.registerId ?? "QUAY1";
  const day = vnDateTime(options.startMs).slice(0, 10).replaceAll("-", "");
  const shop = options.shop ?? "mixed";
  const out: ReceiptInput[] = [];
  let t = options.startMs;
  // The 8% reduction (NQ 204/2025) ends on 2026-12-31, Vietnam time; a register set up correctly charges 10% after
  // it. Decided once per run from its start, as a register's price list is.
  const reductionInForce = day <= "20261231";

  for (let i = 0; i < options.count; i++) {
    if (i > 0) t += int(20, 360) * 1000 + int(0, 999);
    const catalogue = shop === "cafe" ? CAFE : shop === "grocery" ? GROCERY : rnd() < 0.5 ? CAFE : GROCERY;
    const lineCount = int(1, catalogue === CAFE ? 4 : 8);
    const chosen = new Set<Item>();
    while (chosen.size < lineCount) chosen.add(pick(catalogue));

    const lines = [...chosen].map((item) => {
      const quantity = item.weighed
        ? pick(WEIGHTS)
        : item.group === "beer" && rnd() < 0.2
          ? pick(["6", "12", "24"])
          : String(pick([1, 1, 1, 2, 2, 3, 4]));
      const gross = lineAmount(quantity, item.price);
      // One line in eight gets a promotion, rounded to whole thousands and always below the line's value.
      const discount =
        rnd() < 0.125 ? Math.max(0, Math.min(gross - 1_000, Math.round((gross * int(5, 20)) / 100_000) * 1_000)) : 0;
      const line: ReceiptInput["lines"][number] = {
        code: item.code,
        name: item.name,
        unit: item.unit,
        quantity,
        unitPrice: item.price,
        amount: gross - discount,
        // The 8% reduction ends on 2026-12-31 (Vietnam time); a register set up correctly charges 10% after it.
        vatRate: item.vatRate === "8%" && !reductionInForce ? "10%" : item.vatRate,
      };
      if (discount > 0) line.discount = discount;
      if (item.group !== undefined) line.group = item.group;
      return line;
    });
    const total = lines.reduce((sum, l) => sum + (l.amount ?? 0), 0);

    const r = rnd();
    const payments: NonNullable<ReceiptInput["payments"]> =
      r < 0.6
        ? [{ method: "cash", amount: total }]
        : r < 0.8
          ? [{ method: "card", amount: total }]
          : r < 0.95 || total < 20_000
            ? [{ method: "transfer", amount: total }]
            : [
                { method: "card", amount: total - 10_000 },
                { method: "cash", amount: 10_000 },
              ];

    const receipt: ReceiptInput = {
      receiptId: `${registerId}-${day}-${String((options.firstNumber ?? 1) + i).padStart(5, "0")}`,
      issuedAt: `${vnDateTime(t)}+07:00`,
      pricesIncludeVat: true,
      lines,
      payments,
      total,
      device: { serial: `SIM-${registerId}`, model: "hoadon-sim" },
    };
    const b = rnd();
    if (b < 0.08) receipt.buyer = { ...pick(COMPANIES) };
    else if (b < 0.11) receipt.buyer = { ...pick(PEOPLE) };
    out.push(receipt);
  }
  return out;
}

/**
 * `sales` with, now and then (seeded, at `rate`), the cashier voiding the sale just made: a refund of the whole sale
 * (no lines, the sale's total given back), which the ndjson sender puts on the wire as `{"type":"void"}`.
 */
export function withVoids(sales: readonly ReceiptInput[], options: { rate: number; seed: number }): ReceiptInput[] {
  const rnd = seededRandom(options.seed);
  return sales.flatMap((sale) => {
    if (rnd() >= options.rate) return [sale];
    const voided: ReceiptInput = {
      receiptId: `${sale.receiptId}-HUY`,
      issuedAt: `${vnDateTime(Date.parse(sale.issuedAt) + 30_000)}+07:00`,
      kind: "refund",
      replaces: { receiptId: sale.receiptId },
      lines: [],
      total: sale.total,
    };
    return [sale, voided];
  });
}

/** A register's day close over what it sent: sales counted, takings net of voids and refunds. */
export function dayCloseOf(sent: readonly ReceiptInput[], id: string): DayClose {
  const sales = sent.filter((r) => (r.kind ?? "sale") === "sale");
  const back = sent.filter((r) => r.kind === "refund").reduce((n, r) => n + r.total, 0);
  const last = sent.at(-1)?.issuedAt ?? `${vnDateTime(Date.now())}+07:00`;
  return { id, date: last.slice(0, 10), receipts: sales.length, total: sales.reduce((n, r) => n + r.total, 0) - back };
}
