/**
 * The element structure of a cash-register invoice per profile (spec §2.2–§2.4, addendum §1b): which children each
 * element may have, in which order, which are required, which may repeat. `hoadon invoice verify` uses it to name the
 * first element that is missing, unknown, repeated or out of order. The tables are the ones `renderDlhdon` writes
 * (plus the optional elements of the standard we never write, so other producers' invoices are judged fairly).
 */
import { type Problem, problem } from "./problem.js";
import { childOf, textOf, type XNode } from "./xml-read.js";

/** Which profile an invoice follows: by its `PBan` (2.0.x → "2.0.1", anything else → "2.1"). */
export type StructureProfile = "2.1" | "2.0.1";

/** What decides requiredness: the profile and the form (`KHMSHDon` 1 VAT, 2 sales). */
interface Facts {
  readonly profile: StructureProfile;
  readonly vat: boolean;
}

/** One allowed child element. */
interface Child {
  readonly name: string;
  /** Required always (true) or when the predicate holds. */
  readonly required?: boolean | ((f: Facts) => boolean);
  /** Not allowed at all when the predicate holds (e.g. `TSuat` on a sales invoice). */
  readonly forbidden?: (f: Facts) => boolean;
  readonly repeat?: boolean;
  /** The child's own content; absent: text or anything (not checked further). */
  readonly content?: (f: Facts) => readonly Child[];
}

const c = (name: string, more: Omit<Child, "name"> = {}): Child => ({ name, ...more });
const R = { required: true } as const;
const vatOnly = (f: Facts): boolean => !f.vat;

const TTIN: readonly Child[] = [c("TTruong", R), c("KDLieu", R), c("DLieu", R)];
const TTKHAC = c("TTKhac", { content: () => [c("TTin", { repeat: true, content: () => TTIN })] });

const TTHDLQUAN: readonly Child[] = [
  c("TCHDon", R),
  c("LHDCLQuan", R),
  c("KHMSHDCLQuan", R),
  c("KHHDCLQuan", R),
  c("SHDCLQuan", R),
  c("NLHDCLQuan", R),
  c("SBKCLQuan"),
  c("NBKCLQuan"),
  c("GChu"),
];

function ttchung(f: Facts): readonly Child[] {
  const head = [c("PBan", R), c("THDon", R), c("KHMSHDon", R), c("KHHDon", R), c("SHDon", R)];
  const tail = [c("TTHDLQuan", { content: () => TTHDLQUAN }), TTKHAC];
  if (f.profile === "2.0.1") return [...head, c("NLap", R), ...tail];
  // 2.1.0 table (spec §2.4) and AMNOTE's cash-register builder (addendum §1b).
  return [
    ...head,
    c("MHSo"),
    c("NLap", R),
    c("HDCTTChinh", { required: (x) => x.vat }),
    c("SBKe"),
    c("NBKe"),
    c("DVTTe", R),
    c("TGia"),
    c("HTTToan", R),
    c("MSTTCGP", R),
    c("MSTDVNUNLHDon"),
    c("TDVNUNLHDon"),
    c("DCDVNUNLHDon"),
    ...tail,
  ];
}

function nban(f: Facts): readonly Child[] {
  const base = [c("Ten", R), c("MST", R), c("DChi", R)];
  if (f.profile === "2.0.1") return [...base, c("SDThoai"), TTKHAC];
  return [
    ...base,
    ...["MCHang", "TCHang", "SDThoai", "DCTDTu", "STKNHang", "TNHang", "Fax", "Website"].map((n) => c(n)),
    TTKHAC,
  ];
}

function nmua(f: Facts): readonly Child[] {
  const names =
    f.profile === "2.0.1"
      ? ["Ten", "MST", "DChi", "SDThoai", "CCCDan", "HVTNMHang"]
      : [
          "Ten",
          "MST",
          "MDVQHNSach",
          "DChi",
          "MKHang",
          "SDThoai",
          "CCCDan",
          "SHChieu",
          "DCTDTu",
          "HVTNMHang",
          "STKNHang",
          "TNHang",
        ];
  return [...names.map((n) => c(n)), TTKHAC];
}

const HHDVU: readonly Child[] = [
  c("TChat", R),
  c("STT"),
  c("MHHDVu"),
  c("THHDVu", R),
  c("DVTinh"),
  c("SLuong"),
  c("DGia"),
  c("TLCKhau"),
  c("STCKhau"),
  c("ThTien"),
  // §2.3: the sales-invoice profile has no TSuat.
  c("TSuat", { forbidden: vatOnly }),
  TTKHAC,
  c("TTHHDTrung", { content: () => [c("TTin", { repeat: true, content: () => TTIN })] }),
];

function ttoan(): readonly Child[] {
  const rates = c("THTTLTSuat", {
    forbidden: vatOnly,
    content: () => [
      c("LTSuat", { required: true, repeat: true, content: () => [c("TSuat", R), c("ThTien", R), c("TThue")] }),
    ],
  });
  return [
    rates,
    c("TgTCThue", { required: (x) => x.vat, forbidden: vatOnly }),
    c("TGTKCThue", { forbidden: vatOnly }),
    c("TgTThue", { required: (x) => x.vat, forbidden: vatOnly }),
    c("DSLPhi", { content: () => [c("LPhi", { repeat: true, content: () => [c("TLPhi", R), c("TPhi", R)] })] }),
    c("TTCKTMai"),
    c("TGTKhac"),
    c("TgTTTBSo", R),
    c("TgTTTBChu", R),
    TTKHAC,
  ];
}

const NDHDON: (f: Facts) => readonly Child[] = () => [
  c("NBan", { required: true, content: nban }),
  c("NMua", { content: nmua }),
  c("DSHHDVu", { required: true, content: () => [c("HHDVu", { required: true, repeat: true, content: () => HHDVU })] }),
  c("TToan", { required: true, content: ttoan }),
  TTKHAC,
];

const HDON: (f: Facts) => readonly Child[] = () => [
  c("DLHDon", {
    required: true,
    content: () => [
      c("TTChung", { required: true, content: ttchung }),
      c("NDHDon", { required: true, content: NDHDON }),
      TTKHAC,
    ],
  }),
  c("DLQRCode"),
  c("MCCQT", R),
  c("DSCKS", { content: () => ["NBan", "NMua", "CQT", "CCKSKhac"].map((n) => c(n)) }),
];

/** The profile an invoice's `PBan` selects. */
export function structureProfileOf(pban: string | undefined): StructureProfile {
  return pban?.startsWith("2.0.") ? "2.0.1" : "2.1";
}

function walk(node: XNode, children: readonly Child[], f: Facts, path: string, out: Problem[]): void {
  const seen = new Set<string>();
  let last = -1;
  for (const child of node.children) {
    const at = `${path}/${child.name}`;
    const idx = children.findIndex((x) => x.name === child.name);
    const spec = children[idx];
    if (!spec) {
      out.push(
        problem(
          "ELEMENT_UNEXPECTED",
          at,
          `${child.name} không thuộc ${node.name} (hồ sơ ${f.profile}${f.vat ? "" : ", hóa đơn bán hàng"})`,
          `${child.name} is not allowed in ${node.name}`,
        ),
      );
      continue;
    }
    if (spec.forbidden?.(f)) {
      const vi = `${child.name} không được có trên hóa đơn bán hàng`;
      out.push(problem("ELEMENT_UNEXPECTED", at, vi, `${child.name} is not allowed on a sales invoice`));
    } else if (seen.has(child.name) && !spec.repeat) {
      out.push(problem("ELEMENT_REPEATED", at, `${child.name} xuất hiện hai lần`, `${child.name} appears twice`));
    } else if (idx < last) {
      const before = children[last]?.name ?? "";
      const vi = `${child.name} phải đứng trước ${before} trong ${node.name}`;
      out.push(problem("ELEMENT_ORDER", at, vi, `${child.name} must come before ${before}`));
    }
    seen.add(child.name);
    last = Math.max(last, idx);
    if (spec.content) walk(child, spec.content(f), f, at, out);
  }
  for (const spec of children) {
    const required = typeof spec.required === "function" ? spec.required(f) : spec.required === true;
    if (required && !seen.has(spec.name) && !spec.forbidden?.(f)) {
      out.push(
        problem(
          "ELEMENT_MISSING",
          `${path}/${spec.name}`,
          `Thiếu ${spec.name} trong ${node.name}`,
          `${spec.name} is missing`,
        ),
      );
    }
  }
}

/**
 * Check the structure of one invoice (`HDon` root): element order, requiredness and repetition per profile and form,
 * `DLHDon/@Id`, and that a related invoice is a replacement (`TCHDon` 1: cash-register invoices are only replaced,
 * spec §7.3). Problems in document order; empty when the structure is right.
 */
export function checkStructure(root: XNode): Problem[] {
  const out: Problem[] = [];
  if (root.name !== "HDon") {
    out.push(
      problem("ELEMENT_UNEXPECTED", root.name, `Gốc phải là HDon, không phải ${root.name}`, "root must be HDon"),
    );
    return out;
  }
  const dl = childOf(root, "DLHDon");
  const tt = childOf(dl, "TTChung");
  const f: Facts = { profile: structureProfileOf(textOf(tt, "PBan")), vat: textOf(tt, "KHMSHDon") !== "2" };
  walk(root, HDON(f), f, "HDon", out);
  if (dl && !dl.attrs["Id"]) {
    out.push(problem("ID_MISSING", "HDon/DLHDon/@Id", "DLHDon thiếu thuộc tính Id", "DLHDon has no Id"));
  }
  const tchdon = textOf(childOf(tt, "TTHDLQuan"), "TCHDon");
  if (tchdon !== undefined && tchdon !== "1") {
    out.push(
      problem(
        "CORRECTION_NOT_REPLACEMENT",
        "HDon/DLHDon/TTChung/TTHDLQuan/TCHDon",
        `TCHDon ${tchdon}: hóa đơn khởi tạo từ máy tính tiền chỉ được thay thế (TCHDon 1), không điều chỉnh`,
        "cash-register invoices are only replaced (TCHDon 1)",
      ),
    );
  }
  return out;
}
