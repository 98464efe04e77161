// Money and time as people read them. Amounts stay decimal strings in the API; sums are done in
// cents so that 0.1 + 0.2 never shows up as 0.30000000000000004.

/** Cents of a decimal string such as "19.99" (at most two places, as the API sends). */
export function toCents(amount: string): number {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(amount.trim());
  if (!match) return Number.NaN;
  const [, sign, units, fraction = ""] = match;
  const cents = Number(units) * 100 + Number(fraction.padEnd(2, "0"));
  return sign ? -cents : cents;
}

/** "19.99" for 1999 cents. */
export function fromCents(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const absolute = Math.abs(cents);
  return `${sign}${Math.floor(absolute / 100)}.${String(absolute % 100).padStart(2, "0")}`;
}

/** An amount with its currency, e.g. "€19.99"; an unknown code is shown as "19.99 XYZ". */
export function formatMoney(amount: string, currency: string): string {
  const value = Number(amount);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${amount} ${currency}`;
  }
}

/** A timestamp in the reader's locale; the raw text when it is not a date. */
export function formatTime(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** "STOCK_RESERVED" as "Stock reserved". */
export function humanize(code: string): string {
  const words = code.replace(/[_.]+/g, " ").trim().toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The first 8 characters of an id, enough to tell orders apart on screen. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
