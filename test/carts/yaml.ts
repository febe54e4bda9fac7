// Reads a mapping file as a plain document, so a test can change one key and validate it again.
import { readFileSync } from 'node:fs';

import { parse } from 'yaml';

export function parseYaml(file: string): Record<string, unknown> {
  return parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}
