import { describeActor } from './events-api';
import { Pipe, PipeTransform } from '@angular/core';

/** Bytes as a short human size. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

@Pipe({ name: 'bytes' })
export class BytesPipe implements PipeTransform {
  transform(bytes: number | null | undefined): string {
    return formatBytes(bytes);
  }
}

/** Megabytes as a short human size. */
@Pipe({ name: 'mb' })
export class MegabytesPipe implements PipeTransform {
  transform(mb: number | null | undefined): string {
    return mb === null || mb === undefined ? '—' : formatBytes(mb * 1024 * 1024);
  }
}

/** A percentage with one decimal, or a dash when unknown. */
@Pipe({ name: 'pct' })
export class PercentValuePipe implements PipeTransform {
  transform(value: number | null | undefined): string {
    return value === null || value === undefined || !Number.isFinite(value) ? '—' : `${value.toFixed(1)}%`;
  }
}

/** Names of a list of `{ name }` objects, comma separated. */
@Pipe({ name: 'names' })
export class NamesPipe implements PipeTransform {
  transform(items: { name: string }[] | null | undefined): string {
    return (items ?? []).map((i) => i.name).join(', ') || '—';
  }
}

/** An event's actor, whatever its shape, as a short string. */
@Pipe({ name: 'actor' })
export class ActorPipe implements PipeTransform {
  transform(actor: unknown): string {
    return describeActor(actor);
  }
}
