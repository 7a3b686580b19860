/**
 * Pictures in a print job → one PNG for the auditor (issue 4: "a receipt printed as an image is kept, with a PNG").
 * Raster images (`GS v 0`, `GS Q 0`), column bit images (`ESC *`) and raster graphics (`GS ( L` / `GS 8 L` function
 * 112) are stacked top to bottom as the printer would feed them. Pure; `node:zlib` only compresses.
 */
import { deflateSync } from "node:zlib";
import { concatBytes, crc32 } from "../../src/driver-api/index.js";
import { type Token, tokenize } from "./tokenize.js";

/** A monochrome bitmap, rows of `widthBytes` bytes, most significant bit leftmost, 1 = black dot. */
export interface Bitmap {
  readonly widthBytes: number;
  readonly height: number;
  readonly bits: Uint8Array;
}

/** Column format (ESC *: each column 1 or 3 bytes from the top, MSB first) → raster rows. */
function columnsToRaster(columns: number, bytesPerColumn: number, data: Uint8Array): Bitmap {
  const widthBytes = Math.ceil(columns / 8);
  const height = bytesPerColumn * 8;
  const bits = new Uint8Array(widthBytes * height);
  for (let x = 0; x < columns; x++) {
    for (let k = 0; k < bytesPerColumn; k++) {
      const byte = data[x * bytesPerColumn + k] ?? 0;
      for (let b = 0; b < 8; b++) {
        if (byte & (0x80 >> b)) {
          const y = k * 8 + b;
          bits[y * widthBytes + (x >> 3)]! |= 0x80 >> (x & 7);
        }
      }
    }
  }
  return { widthBytes, height, bits };
}

/** Raster graphics (function 112) inside `GS ( L` / `GS 8 L` data: m fn a bx by c xL xH yL yH d… */
function graphics(data: Uint8Array): Bitmap | undefined {
  if (data.length < 10 || data[1] !== 0x70 || data[2] !== 0x30) return undefined;
  const x = data[6]! + 256 * data[7]!;
  const y = data[8]! + 256 * data[9]!;
  const widthBytes = Math.ceil(x / 8);
  if (x < 1 || y < 1 || data.length < 10 + widthBytes * y) return undefined;
  return { widthBytes, height: y, bits: data.subarray(10, 10 + widthBytes * y) };
}

/** The picture a token draws, if it is one we can read. */
export function bitmapOf(token: Token): Bitmap | undefined {
  const data = token.data;
  if (data === undefined) return undefined;
  const h = token.bytes;
  switch (token.name) {
    case "GS v 0":
    case "GS Q 0": {
      const widthBytes = h[4]! + 256 * h[5]!;
      const height = h[6]! + 256 * h[7]!;
      return data.length === widthBytes * height ? { widthBytes, height, bits: data } : undefined;
    }
    case "ESC *": {
      const columns = h[3]! + 256 * h[4]!;
      return columnsToRaster(columns, h[2]! >= 32 ? 3 : 1, data);
    }
    case "GS ( L":
      return graphics(data);
    case "GS 8 L":
      return graphics(data);
    default:
      return undefined;
  }
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** Bitmaps stacked vertically → a 1-bit greyscale PNG (white paper, black dots), or `undefined` when there are none. */
export function bitmapsToPng(bitmaps: readonly Bitmap[]): Uint8Array | undefined {
  if (bitmaps.length === 0) return undefined;
  const widthBytes = Math.max(...bitmaps.map((b) => b.widthBytes));
  const height = bitmaps.reduce((n, b) => n + b.height, 0);
  // PNG rows: a filter byte (0) then the row; PNG greyscale 1-bit has 0 = black, so dots are inverted.
  const rows = new Uint8Array(height * (widthBytes + 1));
  let y = 0;
  for (const b of bitmaps) {
    for (let r = 0; r < b.height; r++, y++) {
      const at = y * (widthBytes + 1);
      rows.fill(0xff, at + 1, at + 1 + widthBytes);
      for (let i = 0; i < b.widthBytes; i++) rows[at + 1 + i] = ~(b.bits[r * b.widthBytes + i] ?? 0) & 0xff;
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, widthBytes * 8);
  view.setUint32(4, height);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, adaptive filters, no interlace
  const signature = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
  return concatBytes([
    signature,
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(rows))),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/**
 * The pictures of a stored print job (a quarantined `RASTER_ONLY` receipt's raw bytes) as one PNG, or `undefined`
 * when it has none. Deterministic: the same bytes always give the same PNG, so it need not be stored.
 */
export function renderPng(raw: Uint8Array): Uint8Array | undefined {
  const bitmaps: Bitmap[] = [];
  for (const token of tokenize(raw)) {
    const b = bitmapOf(token);
    if (b) bitmaps.push(b);
  }
  return bitmapsToPng(bitmaps);
}
