/**
 * Every golden invoice, signed with the seeded TEST-ONLY key at a fixed time (`signed.xml`, byte-exact): it verifies
 * with our verifier, with xml-crypto and with xmlsec1, passes `hoadon invoice verify`, and a changed byte — in the
 * invoice, in the signing time or in the signature value — fails all of them.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { checkInvoice } from "../../src/commands/invoice.js";
import {
  createSigner,
  createTestIdentity,
  loadPkcs12,
  type TestIdentity,
  verifySignatures,
} from "../../src/sign/index.js";
import { HAS_XMLSEC, tempDir, xmlCryptoVerify, xmlsecVerify } from "../sign/helpers.js";
import { type BuiltCase, buildCase, CASES, FIXTURES, signingTimeOf } from "./fixtures.js";

let identity: TestIdentity;
const signed = new Map<string, BuiltCase>();

beforeAll(() => {
  // The same seeded key as test/sign/golden: the goldens stay byte-exact across runs and machines.
  identity = createTestIdentity({ seed: "hoadon-test-only", commonName: "Quán Cà Phê ĐÀ LẠT", taxCode: "0101234567" });
  const signer = createSigner(loadPkcs12(identity.pfx, identity.password));
  for (const name of CASES) signed.set(name, buildCase(name, signer));
}, 60_000);

const get = (name: string): BuiltCase => signed.get(name) as BuiltCase;

/** Changed copies of a signed invoice, each of which every verifier must reject. */
function tampered(c: BuiltCase): Record<string, string> {
  const xml = c.hdon;
  const sv = /<SignatureValue>([^<]+)<\/SignatureValue>/.exec(xml)?.[1] ?? "";
  const i = 100;
  return {
    "one byte of the invoice (TgTTTBSo)": xml.replace(
      /<TgTTTBSo>(\d)/,
      (_, d: string) => `<TgTTTBSo>${(Number(d) + 1) % 10}`,
    ),
    "the signing time": xml.replace(`<SigningTime>${signingTimeOf(c)}`, `<SigningTime>${c.ctx.nlap}T12:00:01`),
    "the signature value": xml.replace(sv, sv.slice(0, i) + (sv[i] === "A" ? "B" : "A") + sv.slice(i + 1)),
  };
}

describe.each(CASES)("signed golden %s", (name) => {
  it("is byte-exact", async () => {
    await expect(get(name).hdon).toMatchFileSnapshot(join(FIXTURES, name, "signed.xml"));
  });

  it("verifies with our verifier and xml-crypto, and passes hoadon invoice verify", () => {
    const c = get(name);
    const report = verifySignatures(c.hdon, { trustedCertPem: identity.certPem });
    expect(report.problem).toBeUndefined();
    expect(report.signatures[0]).toMatchObject({
      signingTime: signingTimeOf(c),
      signingTimeSigned: true,
      referencedPaths: ["/HDon/DLHDon", "/HDon/DSCKS/NBan/Signature/Object/SignatureProperties/SignatureProperty"],
    });
    expect(xmlCryptoVerify(c.hdon, identity.certPem)).toBe(true);
    const check = checkInvoice(c.hdon, `${name}/signed.xml`, identity.certPem);
    expect(check.problems).toEqual([]);
  });

  it.skipIf(!HAS_XMLSEC)("verifies with xmlsec1", () => {
    const r = xmlsecVerify(get(name).hdon, identity.certPem);
    expect(r.stderr).toContain("SignedInfo References (ok/all): 2/2");
    expect(r.status).toBe(0);
  });

  it("fails every verifier when a byte changes", () => {
    for (const [what, bad] of Object.entries(tampered(get(name)))) {
      expect(bad, what).not.toBe(get(name).hdon);
      expect(verifySignatures(bad, { trustedCertPem: identity.certPem }).ok, what).toBe(false);
      expect(xmlCryptoVerify(bad, identity.certPem), what).toBe(false);
      expect(checkInvoice(bad, "bad.xml", identity.certPem).ok, what).toBe(false);
      if (HAS_XMLSEC) {
        const r = xmlsecVerify(bad, identity.certPem);
        expect(r.status, what).not.toBe(0);
        expect(r.stderr, what).toMatch(/FAIL|ERROR/);
      }
    }
  });
});

describe("hoadon invoice verify on the signed goldens", () => {
  it("exits 0 on every golden and 65 naming the problem on a changed copy", async () => {
    const { runCli } = await import("../../src/cli.js");
    const dir = tempDir("hoadon-golden-");
    const cert = join(dir, "cert.pem");
    writeFileSync(cert, identity.certPem);
    for (const name of CASES) {
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
      // The same bytes as signed.xml (pinned above), written here so a brand-new case works on its first run.
      const file = join(dir, `${name}-signed.xml`);
      writeFileSync(file, get(name).hdon);
      expect(await runCli(["invoice", "verify", file, "--trusted-cert", cert], io), `${name}: ${err.join("\n")}`).toBe(
        0,
      );
      const bad = join(dir, `${name}.xml`);
      writeFileSync(bad, tampered(get(name))["one byte of the invoice (TgTTTBSo)"] as string);
      err.length = 0;
      expect(await runCli(["invoice", "verify", bad, "--trusted-cert", cert], io), name).toBe(65);
      expect(err.join("\n"), name).toContain("Chữ ký không khớp nội dung DLHDon");
    }
  });
});
