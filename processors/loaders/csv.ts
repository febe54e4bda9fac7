/**
 * Streams the rows of a comma-separated file with a header row (RFC 4180 quoting), as the
 * public shop datasets are written. Each row carries the file line it starts on, so an
 * error can name it.
 */

import { createReadStream } from 'node:fs';

import { parse } from 'csv-parse';

import { LoaderInputError } from './errors.ts';

export interface CsvRow {
  /** 1-based line of the file where the row starts; the header is line 1. */
  readonly line: number;
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * Yields the data rows of `file` in order, at most `limitRows` of them (null: all).
 * Throws LoaderInputError when the file cannot be read, a required column is missing, or
 * a row has the wrong number of fields.
 */
export async function* readCsv(file: string, requiredColumns: readonly string[], limitRows: number | null): AsyncGenerator<CsvRow> {
  if (limitRows !== null && limitRows <= 0) return;
  const parser = parse({
    columns: (header: string[]) => {
      const missing = requiredColumns.filter((column) => !header.includes(column));
      if (missing.length > 0) {
        throw new LoaderInputError(`the header is missing column(s) ${missing.join(', ')}, expected ${requiredColumns.join(',')}`, { file, line: 1 });
      }
      return header;
    },
    info: true,
    bom: true,
  });
  const source = createReadStream(file);
  source.on('error', (err) => parser.destroy(err));
  source.pipe(parser);

  let endOfPrevious = 1;
  let count = 0;
  try {
    for await (const item of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      const line = endOfPrevious + 1;
      endOfPrevious = item.info.lines;
      yield { line, fields: item.record };
      count += 1;
      if (limitRows !== null && count >= limitRows) break;
    }
  } catch (err) {
    if (err instanceof LoaderInputError) throw err;
    const nested = (err as { cause?: unknown }).cause;
    if (nested instanceof LoaderInputError) throw nested;
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      throw new LoaderInputError(`cannot read the file (${String(code)}), check the path`, { file, cause: err });
    }
    const lines = (err as { lines?: unknown }).lines;
    throw new LoaderInputError(`not a valid CSV row: ${(err as Error).message}`, { file, line: typeof lines === 'number' ? lines : endOfPrevious + 1, cause: err });
  } finally {
    source.destroy();
    parser.destroy();
  }
}
