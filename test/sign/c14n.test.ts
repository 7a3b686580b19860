import { fc, test } from "@fast-check/vitest";
import type { Element } from "@xmldom/xmldom";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalize, parseXml, XmlInputError } from "../../src/sign/c14n.js";
import { ALG } from "../../src/sign/dsig.js";
import { createTestIdentity, type TestIdentity } from "../../src/sign/test-identity.js";
import { verifySignatures } from "../../src/sign/verify.js";
import { el, textEl } from "../../src/xml/canonical.js";
import { HAS_XMLLINT, HAS_XMLSEC, xmllintC14n, xmlsecSign } from "./helpers.js";

/** Documents that exercise every rule of C14N 1.0 and exc-c14n that we implement. */
const DOCS: Record<string, string> = {
  "prolog, PIs and comments outside the root":
    '<?xml version="1.0" encoding="UTF-8"?>\n<?pi-before  some data ?>\n<!-- before -->\n<doc/>\n<!-- after -->\n<?pi-after?>\n',
  "attribute order, quoting and escaping":
    "<doc z='1' a=\"x&#9;y&#10;z&#13;\" b='&lt;&amp;&quot;&gt;' m=\"a\tb\r\nc\"><e/></doc>",
  "text escaping, CDATA and character references":
    "<doc>a &amp; b &lt; c &gt; d \"'\r\n&#13;<![CDATA[<x> & ]]>]]&gt;&#272;&#x1EA1;</doc>",
  namespaces:
    '<doc xmlns="urn:d" xmlns:a="urn:a" xmlns:z="urn:z" xmlns:unused="urn:unused">' +
    '<a:e a:y="1" z:x="2" b="3" xmlns:b="urn:b" b:q="4"><f xmlns="" g="h"><g xmlns="urn:d"/></f></a:e>' +
    '<z:e xmlns:a="urn:a"/><e xmlns:a="urn:other"/></doc>',
  "xml: attributes and whitespace": '<doc xml:lang="vi" xml:space="preserve">\n  <e xml:lang="en">  x  </e>\n</doc>',
  "Vietnamese text, NFC and NFD kept as is": `<doc>${"Cà phê sữa đá"}|${"Cà phê sữa đá".normalize("NFD")}</doc>`,
};

describe("canonicalize", () => {
  describe.skipIf(!HAS_XMLLINT)("a whole document matches xmllint", () => {
    it.each(Object.keys(DOCS))("inclusive, with comments: %s", (name) => {
      const xml = DOCS[name] as string;
      expect(canonicalize(parseXml(xml), { withComments: true })).toBe(xmllintC14n(xml, "--c14n"));
    });

    it.each(Object.keys(DOCS))("exclusive, with comments: %s", (name) => {
      const xml = DOCS[name] as string;
      expect(canonicalize(parseXml(xml), { exclusive: true, withComments: true })).toBe(xmllintC14n(xml, "--exc-c14n"));
    });
  });

  it("renders ancestors' namespaces and xml: attributes on the apex (inclusive) but only used ones (exclusive)", () => {
    const doc = parseXml(
      '<r xmlns="urn:r" xmlns:a="urn:a" xmlns:u="urn:u" xml:lang="vi"><a:p xml:space="preserve"><q a:x="1"/></a:p></r>',
    );
    const q = doc.getElementsByTagName("q").item(0) as Element;
    expect(canonicalize(q)).toBe(
      // attributes sort by namespace URI first: http://www.w3.org/XML/1998/namespace < urn:a
      '<q xmlns="urn:r" xmlns:a="urn:a" xmlns:u="urn:u" xml:lang="vi" xml:space="preserve" a:x="1"></q>',
    );
    expect(canonicalize(q, { exclusive: true })).toBe('<q xmlns="urn:r" xmlns:a="urn:a" a:x="1"></q>');
    expect(canonicalize(q, { exclusive: true, inclusivePrefixes: ["u", "#default", "missing"] })).toBe(
      '<q xmlns="urn:r" xmlns:a="urn:a" xmlns:u="urn:u" a:x="1"></q>',
    );
  });

  it("leaves out the excluded subtree (enveloped signature) and comments unless asked", () => {
    const doc = parseXml("<r><a>1</a><!--c--><Signature><x/></Signature><b/></r>");
    const sig = doc.getElementsByTagName("Signature").item(0) as Element;
    expect(canonicalize(doc, { exclude: sig })).toBe("<r><a>1</a><b></b></r>");
    expect(canonicalize(doc, { withComments: true })).toBe(
      "<r><a>1</a><!--c--><Signature><x></x></Signature><b></b></r>",
    );
  });

  // Element and attribute names, and text that needs every kind of escaping.
  const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,8}$/).filter((n) => !/^xml/i.test(n));
  const value = fc.string({
    unit: fc.constantFrom("a", "Đ", "ữ", "&", "<", ">", '"', "'", "\t", "\n", "\r", " ", "]"),
  });
  const tree = fc.letrec<{ node: string }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small" },
      fc.tuple(name, value).map(([n, v]) => textEl(n, v)),
      fc
        .tuple(
          name,
          fc.dictionary(name, value, { maxKeys: 4 }),
          fc.array(
            fc.oneof(
              tie("node"),
              value.map((v) => v.replace(/[&<>\r]/g, "")),
            ),
            { maxLength: 4 },
          ),
        )
        .map(([n, attrs, kids]) => el(n, kids.join(""), attrs)),
    ),
  }));

  test.prop([tree.node])("is a fixed point on the output of src/xml/canonical.ts", (xml) => {
    const doc = parseXml(xml);
    expect(canonicalize(doc.documentElement as Element)).toBe(xml);
    expect(canonicalize(doc)).toBe(xml);
  });
});

describe("parseXml", () => {
  it("drops a leading BOM and refuses DOCTYPE, other encodings, invalid UTF-8 and malformed XML", () => {
    expect(canonicalize(parseXml("\uFEFF<a/>"))).toBe("<a></a>");
    expect(canonicalize(parseXml(Buffer.from("\uFEFF<a>đ</a>", "utf8")))).toBe("<a>đ</a>");
    const kind = (input: string | Buffer): string | undefined => {
      try {
        parseXml(input);
        return undefined;
      } catch (e) {
        return e instanceof XmlInputError ? e.kind : "other";
      }
    };
    expect(kind('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>')).toBe("doctype");
    expect(kind(Buffer.from('<?xml version="1.0" encoding="windows-1258"?><a/>'))).toBe("encoding");
    expect(kind(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e]))).toBe("encoding");
    expect(kind("<a><b></a>")).toBe("malformed");
    expect(kind("<a>&unknown;</a>")).toBe("malformed");
    expect(kind("")).toBe("malformed");
    expect(kind("<a/><b/>")).toBe("malformed");
  });
});

/**
 * libxml2 as the subtree oracle: xmlsec1 --sign computes each Reference digest with its own c14n of the referenced
 * subtree (and of SignedInfo); our verifier then recomputes them with ours. Any difference is a digest mismatch.
 */
describe.skipIf(!HAS_XMLSEC)("canonicalize agrees with libxml2 on subtrees (via xmlsec1 --sign)", () => {
  let id: TestIdentity;
  beforeAll(() => {
    id = createTestIdentity();
  });

  const template = (cm: string, sm: string, uri: string, transforms: string): string =>
    '<?xml version="1.0"?>\n<!-- head -->\n' +
    '<root xmlns="urn:d" xmlns:a="urn:a" xmlns:unused="urn:unused" xml:lang="vi">\n' +
    '  <a:wrap a:attr="1" b="2" xml:space="preserve">\n' +
    '    <item Id="item-1" xmlns:c="urn:c" c:z="3" a:y="4" x="5"><!-- comment --><?pi data?>' +
    'Cà phê &amp; <![CDATA[<cdata>]]>\r\n<inner xmlns="">no ns<a:deep/></inner></item>\n' +
    "  </a:wrap>\n" +
    '  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="s">\n' +
    "    <ds:SignedInfo>\n" +
    `      <ds:CanonicalizationMethod Algorithm="${cm}"/>\n` +
    `      <ds:SignatureMethod Algorithm="${sm}"/>\n` +
    `      <ds:Reference URI="${uri}"><ds:Transforms>${transforms}</ds:Transforms>` +
    `<ds:DigestMethod Algorithm="${ALG.sha256}"/><ds:DigestValue/></ds:Reference>\n` +
    "    </ds:SignedInfo>\n" +
    "    <ds:SignatureValue/>\n" +
    "    <ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>\n" +
    "  </ds:Signature>\n" +
    "</root>\n<?tail?>\n";
  const t = (alg: string, inner = ""): string => `<ds:Transform Algorithm="${alg}">${inner}</ds:Transform>`;
  const prefixList = (list: string): string =>
    `<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="${list}"/>`;

  const cases: [string, string, string, string, string][] = [
    ["inclusive c14n of a subtree", ALG.c14n, ALG.rsaSha256, "#item-1", t(ALG.c14n)],
    ["no transform (default inclusive c14n)", ALG.c14n, ALG.rsaSha256, "#item-1", ""],
    ["exclusive c14n of a subtree", ALG.excC14n, ALG.rsaSha256, "#item-1", t(ALG.excC14n)],
    [
      "exclusive c14n with an InclusiveNamespaces PrefixList",
      ALG.excC14n,
      ALG.rsaSha256,
      "#item-1",
      t(ALG.excC14n, prefixList("unused #default")),
    ],
    ["SignedInfo canonicalized WithComments, rsa-sha1", ALG.c14nWithComments, ALG.rsaSha1, "#item-1", t(ALG.c14n)],
    [
      'the whole document (URI="") with the enveloped transform',
      ALG.c14n,
      ALG.rsaSha256,
      "",
      t(ALG.enveloped) + t(ALG.c14n),
    ],
    [
      'the whole document (URI=""), enveloped + exclusive',
      ALG.excC14nWithComments,
      ALG.rsaSha256,
      "",
      t(ALG.enveloped) + t(ALG.excC14n),
    ],
  ];

  it.each(cases)("%s", (_name, cm, sm, uri, transforms) => {
    const signed = xmlsecSign(template(cm, sm, uri, transforms), id.keyPem, id.certPem, ["--id-attr:Id", "urn:d:item"]);
    const report = verifySignatures(signed, { trustedCertPem: id.certPem });
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.signatures[0]?.referencedPaths).toEqual([uri === "" ? "/" : "/root/a:wrap/item"]);
  });
});
