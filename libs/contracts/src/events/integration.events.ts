import { z } from 'zod';
import { defineEvent } from './registry';

/** NATS credentials were issued to an integrator (the credentials themselves are never recorded). */
export const integrationCredentialsIssued = defineEvent(
  'integration.credentials_issued',
  z.object({ name: z.string(), filter: z.string(), expiresAt: z.string() }),
  'Read-only NATS credentials were issued to an integrator',
);
