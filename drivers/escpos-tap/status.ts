/**
 * How an ESC/POS printer answers status requests (Epson ESC/POS reference: DLE EOT, GS r, GS I, ESC u/v, ASB).
 * Used by the sink role (hoadon plays the printer), by a bridge whose printer is absent (when configured), and by the
 * simulator's printer emulator. Bits per Epson: DLE EOT answers always have bits 1 and 4 set (0x12 = all well).
 */
import type { Token } from "./tokenize.js";

/** What the emulated printer reports. */
export interface PrinterState {
  readonly online: boolean;
  readonly paper: "ok" | "near-end" | "out";
  readonly coverOpen?: boolean;
  /** GS I answers. */
  readonly identity?: {
    readonly maker?: string;
    readonly model?: string;
    readonly firmware?: string;
    readonly serial?: string;
  };
}

/** A healthy printer. */
export const PRINTER_OK: PrinterState = { online: true, paper: "ok" };

const FIXED = 0x12; // bits 1 and 4

const ascii = (s: string): number[] => Array.from(s.replace(/[^\x20-\x7e]/g, "?"), (c) => c.charCodeAt(0));

/** The answer to one status request token, or `undefined` when the printer says nothing. */
export function statusAnswer(token: Token, p: PrinterState): Uint8Array | undefined {
  const b = token.bytes;
  const offline = !p.online || p.paper === "out" || p.coverOpen === true;
  switch (token.name) {
    case "DLE EOT": {
      switch (b[2]) {
        case 1: // printer status: bit 3 offline
          return Uint8Array.of(FIXED | (offline ? 0x08 : 0));
        case 2: // offline cause: bit 2 cover open, bit 5 paper end stop, bit 6 error
          return Uint8Array.of(
            FIXED | (p.coverOpen ? 0x04 : 0) | (p.paper === "out" ? 0x20 : 0) | (!p.online ? 0x40 : 0),
          );
        case 3: // error cause
          return Uint8Array.of(FIXED);
        case 4: // roll paper sensor: bits 2–3 near end, bits 5–6 end
          return Uint8Array.of(FIXED | (p.paper !== "ok" ? 0x0c : 0) | (p.paper === "out" ? 0x60 : 0));
        default:
          return undefined;
      }
    }
    case "GS r": {
      const n = b[2]! & 0x0f;
      if (n === 1) return Uint8Array.of((p.paper !== "ok" ? 0x03 : 0) | (p.paper === "out" ? 0x0c : 0));
      if (n === 2 || n === 4) return Uint8Array.of(0x00);
      return undefined;
    }
    case "ESC u":
      return Uint8Array.of(0x00);
    case "ESC v":
      return Uint8Array.of((p.paper !== "ok" ? 0x03 : 0) | (p.paper === "out" ? 0x0c : 0));
    case "GS I": {
      const n = b[2]!;
      const id = p.identity ?? {};
      if (n === 1 || n === 49) return Uint8Array.of(0x20);
      if (n === 2 || n === 50) return Uint8Array.of(0x02);
      if (n === 3 || n === 51) return Uint8Array.of(0x10);
      const text = { 65: id.firmware, 66: id.maker, 67: id.model, 68: id.serial }[n];
      if (n >= 65 && n <= 69) return Uint8Array.from([0x5f, ...ascii(text ?? ""), 0x00]);
      return undefined;
    }
    case "GS a":
      // Automatic Status Back switched on: the printer sends its 4-byte status at once.
      return b[2] === 0
        ? undefined
        : Uint8Array.of(0x10 | (offline ? 0x08 : 0), 0x00, p.paper === "out" ? 0x0c : 0x00, 0x00);
    default:
      return undefined;
  }
}
