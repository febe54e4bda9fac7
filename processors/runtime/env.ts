/**
 * Readers of processor settings from environment variables, shared by the processors'
 * config.ts files. `invalid` builds the processor's own config error for a bad value.
 */
export type Environment = Readonly<Record<string, string | undefined>>;

export type InvalidSetting = (variable: string, message: string) => Error;

/** Reads a text setting; unset or blank gives the fallback. */
export function readText(env: Environment, variable: string, fallback: string): string {
  const value = env[variable]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

/** Reads a whole-number setting of at least `min`; unset or blank gives the fallback. */
export function readInteger(env: Environment, variable: string, fallback: number, min: number, invalid: InvalidSetting): number {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < min) {
    throw invalid(variable, `must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}
