import { createUser, fromPublic } from 'nkeys.js';
import { getEd25519Helper } from 'nkeys.js/lib/helper';
import { useNativeEd25519 } from './native-ed25519';

// tweetnacl, which nkeys.js ships with, as the reference implementation.
const nacl = require('tweetnacl');

describe('native Ed25519 for nkeys.js', () => {
  beforeAll(() => useNativeEd25519());

  it('derives the same public key and signs byte for byte as tweetnacl', () => {
    const seed = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);
    const message = new TextEncoder().encode('nonce-1234567890');
    const reference = nacl.sign.keyPair.fromSeed(seed);
    const helper = getEd25519Helper();

    const pair = helper.fromSeed(seed);
    expect(Buffer.from(pair.publicKey)).toEqual(Buffer.from(reference.publicKey));
    expect(Buffer.from(pair.secretKey)).toEqual(Buffer.from(reference.secretKey));
    expect(Buffer.from(helper.sign(message, pair.secretKey))).toEqual(Buffer.from(nacl.sign.detached(message, reference.secretKey)));
  });

  it('keeps nkeys.js working end to end: a user key signs, its public key verifies, a tampered message fails', () => {
    const user = createUser();
    const data = new TextEncoder().encode('hello');
    const signature = user.sign(data);

    expect(fromPublic(user.getPublicKey()).verify(data, signature)).toBe(true);
    expect(fromPublic(user.getPublicKey()).verify(new TextEncoder().encode('hellO'), signature)).toBe(false);
  });
});
