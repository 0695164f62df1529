import { z } from 'zod';
import { text } from '../text';
import { defineEvent } from './registry';

/**
 * NATS credentials were issued to an integrator (the credentials themselves are never recorded).
 * `userPub` is the public key of the minted NATS user (what a revocation names); `consumerNames`
 * are the durable pull consumers the gateway created for it on EVENTS.
 */
export const integrationCredentialsIssued = defineEvent(
  'integration.credentials_issued',
  z.object({ name: text(), filter: text(), expiresAt: text(), userPub: text().optional(), consumerNames: z.array(text()).optional() }),
  'Read-only NATS credentials were issued to an integrator',
);

/** An integrator's NATS credentials were revoked before they expired; its durables were deleted. */
export const integrationCredentialsRevoked = defineEvent(
  'integration.credentials_revoked',
  z.object({ name: text(), userPub: text().optional(), revokedAt: text() }),
  'An integrator\'s NATS credentials were revoked',
);
