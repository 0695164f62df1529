import 'nkeys.js'; // loads tweetnacl's helper first, so ours replaces it and is not replaced
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { getEd25519Helper, setEd25519Helper } from 'nkeys.js/lib/helper';

/**
 * nkeys.js signs with tweetnacl, pure JavaScript: about 19 ms per signature on the 2-core CI
 * machine. Every NATS connect signs the server's nonce and every minted user JWT costs two, so
 * enrolling a fleet spent most of its time there. This swaps in Node's native Ed25519 (OpenSSL,
 * tens of microseconds) behind nkeys.js's own pluggable helper, which nats.js shares (same module).
 * Ed25519 is deterministic, so signatures are byte-identical to tweetnacl's (native-ed25519.spec.ts).
 */

// DER wrappers around a raw 32-byte Ed25519 seed (PKCS#8) and public key (SPKI), RFC 8410.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const privateKeys = new Map<string, KeyObject>();

function privateKeyOf(seed: Uint8Array): KeyObject {
  const id = Buffer.from(seed.subarray(0, 32)).toString('base64');
  let key = privateKeys.get(id);
  if (!key) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
    if (privateKeys.size > 1000) privateKeys.clear(); // a small cache: the account signing key is reused
    privateKeys.set(id, key);
  }
  return key;
}

function publicKeyOf(seed: Uint8Array): Uint8Array {
  const der = createPublicKey(privateKeyOf(seed)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

let installed = false;

/** Installs the native helper once per process (idempotent). */
export function useNativeEd25519(): void {
  if (installed) return;
  installed = true;
  const fallback = getEd25519Helper();
  setEd25519Helper({
    ...fallback,
    randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
    // tweetnacl's shape: a 64-byte secret key is seed ‖ public key.
    fromSeed: (seed: Uint8Array) => {
      const publicKey = publicKeyOf(seed);
      const secretKey = new Uint8Array(64);
      secretKey.set(seed.subarray(0, 32));
      secretKey.set(publicKey, 32);
      return { publicKey, secretKey };
    },
    sign: (message: Uint8Array, secretKey: Uint8Array) => new Uint8Array(sign(null, message, privateKeyOf(secretKey))),
    verify: (message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array) =>
      verify(null, message, createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' }), signature),
  });
}

useNativeEd25519();
