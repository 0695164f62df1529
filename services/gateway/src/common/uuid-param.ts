import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { ValidationError } from '@encedeus/contracts';

const uuidSchema = z.uuid();

/** Returns `value` when it is a UUID; otherwise a 422 naming the parameter (never a lookup, never a 500). */
export function assertUuid(value: unknown, name = 'id'): string {
  if (typeof value === 'string' && uuidSchema.safeParse(value).success) return value;
  throw new ValidationError(`${name} must be a UUID`, [{ path: name, message: 'must be a UUID' }]);
}

/** `@Param('id', UuidParam)`: every id in a path is a UUID (DESIGN.md §5), anything else is 422. */
@Injectable()
export class UuidParamPipe implements PipeTransform<unknown, string> {
  transform(value: unknown, metadata: ArgumentMetadata): string {
    return assertUuid(value, metadata.data ?? 'id');
  }
}

/** The one instance routes use. */
export const UuidParam = new UuidParamPipe();
