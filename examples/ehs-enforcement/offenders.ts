/**
 * How the EHS example matches offenders: the same company appears as "Baxter Haulage Ltd",
 * "BAXTER HAULAGE LIMITED" and "Baxter  Haulage Ltd", at "LS1 4AB" or "ls14ab". Two records
 * name the same offender when their normalised names and postcodes are equal.
 */

/** Legal-form words that do not tell two companies apart. */
const LEGAL_FORMS = /\b(limited|ltd|plc|llp|llc|inc|incorporated|co|company)\b/g;

/** "Baxter & Sons (Haulage) Ltd." → "baxter and sons haulage" */
export function normaliseName(name: string): string {
  return name
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/[^a-z0-9]+/g, ' ')
    .replace(LEGAL_FORMS, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** "ls1 4ab" → "LS14AB" */
export function normalisePostcode(postcode: string): string {
  return postcode.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

/** The offenders table's key: normalised name and postcode; null without a name. */
export function offenderKey(name: unknown, postcode: unknown): string | null {
  if (typeof name !== 'string' || normaliseName(name) === '') return null;
  return `${normaliseName(name)}|${typeof postcode === 'string' ? normalisePostcode(postcode) : ''}`;
}
