/**
 * A TEST-ONLY certificate authority and a server certificate for 127.0.0.1/localhost, made at run time (node:crypto
 * keys, node-forge certificates), for the custom-CA TLS tests of the gateways.
 */
import { generateKeyPairSync } from "node:crypto";
import forge from "node-forge";

/** A CA and a server certificate it issued. */
export interface TestTls {
  /** The CA certificate (PEM): what `authority.tls.ca` would point at. */
  readonly caPem: string;
  /** The server's certificate and key (PEM). */
  readonly certPem: string;
  readonly keyPem: string;
}

function keyPair(): { priv: forge.pki.rsa.PrivateKey; pub: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const priv = forge.pki.privateKeyFromPem(pem);
  return { priv, pub: forge.pki.setRsaPublicKey(priv.n, priv.e), pem };
}

function cert(
  serial: string,
  subject: string,
  pub: forge.pki.rsa.PublicKey,
  issuer: { name: string; key: forge.pki.rsa.PrivateKey },
  extensions: object[],
): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.serialNumber = serial;
  c.publicKey = pub;
  c.validity.notBefore = new Date(Date.now() - 86_400_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  c.setSubject([{ name: "commonName", value: subject }]);
  c.setIssuer([{ name: "commonName", value: issuer.name }]);
  c.setExtensions(extensions);
  c.sign(issuer.key, forge.md.sha256.create());
  return c;
}

/** A fresh CA and a server certificate for `127.0.0.1` and `localhost`. */
export function makeTestTls(caName = "TEST ONLY hoadon CA"): TestTls {
  const ca = keyPair();
  const caCert = cert("01", caName, ca.pub, { name: caName, key: ca.priv }, [
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
  ]);
  const leaf = keyPair();
  const leafCert = cert("02", "127.0.0.1", leaf.pub, { name: caName, key: ca.priv }, [
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        { type: 7, ip: "127.0.0.1" },
        { type: 2, value: "localhost" },
      ],
    },
  ]);
  return {
    caPem: forge.pki.certificateToPem(caCert),
    certPem: forge.pki.certificateToPem(leafCert),
    keyPem: leaf.pem,
  };
}
