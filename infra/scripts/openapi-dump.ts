import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { previewOpenApiDocument } from '../../services/gateway/src/openapi/preview-document';

/** Writes the gateway's OpenAPI document to the path given (stdout without one); needs no running stack. */
async function main(): Promise<void> {
  const json = JSON.stringify(await previewOpenApiDocument(), null, 2);
  const out = process.argv[2];
  if (out) writeFileSync(out, json);
  else process.stdout.write(json);
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
