import { z } from 'zod';
import { text } from './text';

/** `?limit&cursor` of every list. The cursor is opaque to clients. */
export const pageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: text().max(500).optional(),
});
export type PageQuery = z.infer<typeof pageQuerySchema>;

/** Every list answers `{ items, nextCursor }`; `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
