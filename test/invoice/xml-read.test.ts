import { describe, expect, it } from "vitest";
import { childOf, childrenOf, readXmlTree, textOf } from "../../src/invoice/xml-read.js";

describe("readXmlTree", () => {
  it("reads elements, attributes, entities, CDATA, comments and self-closing tags", () => {
    const root = readXmlTree(
      `<?xml version="1.0" encoding="UTF-8"?>\n<!-- note --><HDon><DLHDon Id="a&amp;b" x='1'>` +
        `<Ten>A &lt; B &#xD;&#272;</Ten><G><![CDATA[<raw>]]></G><E/><L>1</L><L>2</L></DLHDon></HDon>`,
    );
    const dl = childOf(root, "DLHDon");
    expect(dl?.attrs).toEqual({ Id: "a&b", x: "1" });
    expect(textOf(dl, "Ten")).toBe("A < B \rĐ");
    expect(textOf(dl, "G")).toBe("<raw>");
    expect(textOf(dl, "E")).toBe("");
    expect(textOf(dl, "Missing")).toBeUndefined();
    expect(childrenOf(dl, "L").map((l) => l.text)).toEqual(["1", "2"]);
  });

  it("refuses unbalanced input", () => {
    expect(() => readXmlTree("<a><b></a>")).toThrow(SyntaxError);
    expect(() => readXmlTree("<a>")).toThrow(SyntaxError);
    expect(() => readXmlTree("<a></a><b></b>")).toThrow(SyntaxError);
  });
});
