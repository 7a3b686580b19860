/**
 * XML signatures for invoices and transmission batches: open the keystore, sign canonical XML, verify any document.
 */
export { type C14nOptions, canonicalize, parseXml, XmlInputError } from "./c14n.js";
export { ALG, DSIG_NS, parseSigningTime, parseVnDateTime } from "./dsig.js";
export {
  certificateProblemAt,
  certificateValidity,
  checkCertificateAt,
  type LoadedSigningIdentity,
  loadPkcs12,
  loadSigningIdentity,
  type SigningIdentity,
  type SigningKeySource,
  subjectName,
} from "./pkcs12.js";
export {
  createSigner,
  type SignatureStyle,
  type SignEnvelopedArgs,
  XADES_NS,
  XADES_SIGNED_PROPERTIES_TYPE,
  type XmlSigner,
} from "./signer.js";
export { createTestIdentity, TEST_PFX_PASSWORD, type TestIdentity, type TestIdentityOptions } from "./test-identity.js";
export { type SignatureReport, type VerifyOptions, type VerifyReport, verifySignatures } from "./verify.js";
