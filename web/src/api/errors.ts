// Errors as the API gives them: `{"detail": ...}` with a status that says what happened. A 422
// carries FastAPI's list of `{loc, msg, type}` items; the pages show each beside its field.

/** One validation problem, keyed by the field path without its location ("body", "query"). */
export interface FieldProblem {
  field: string;
  message: string;
}

const LOCATIONS = new Set(["body", "query", "path", "header"]);

/** "delivery_address.street" for `loc: ["body", "delivery_address", "street"]`. */
export function fieldPath(loc: unknown): string {
  if (!Array.isArray(loc)) return "";
  const parts = loc.map(String);
  if (parts.length > 0 && LOCATIONS.has(parts[0] ?? "")) parts.shift();
  return parts.join(".");
}

function problemsOf(detail: unknown): FieldProblem[] {
  if (!Array.isArray(detail)) return [];
  return detail.flatMap((item: unknown) => {
    if (typeof item !== "object" || item === null) return [];
    const { loc, msg } = item as { loc?: unknown; msg?: unknown };
    if (typeof msg !== "string") return [];
    return [{ field: fieldPath(loc), message: msg.replace(/^Value error, /, "") }];
  });
}

function summaryOf(status: number, detail: unknown, problems: FieldProblem[]): string {
  if (typeof detail === "string" && detail.trim()) return detail;
  if (problems.length > 0) return "Some fields need correcting.";
  switch (status) {
    case 0:
      return "The server could not be reached. Check your connection and try again.";
    case 401:
      return "Please log in again.";
    case 403:
      return "You are not allowed to do that.";
    case 404:
      return "Not found.";
    case 409:
      return "That conflicts with the current state; reload and try again.";
    case 429:
      return "Too many attempts; wait a moment and try again.";
    case 503:
      return "The service is unavailable right now; try again shortly.";
    case 504:
      return "The service took too long to answer; try again.";
    default:
      return `Something went wrong (HTTP ${status}).`;
  }
}

/** A failed API call: the status, the API's own detail, and the field problems of a 422. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;
  readonly problems: FieldProblem[];
  /** Seconds to wait, from Retry-After (429, 503), when the API said. */
  readonly retryAfter: number | null;

  constructor(status: number, detail: unknown, retryAfter: number | null = null) {
    const problems = problemsOf(detail);
    super(summaryOf(status, detail, problems));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.problems = problems;
    this.retryAfter = retryAfter;
  }

  /** The message for one field (its first problem), if the API named it. */
  fieldError(field: string): string | undefined {
    return this.problems.find((problem) => problem.field === field)?.message;
  }

  /** Read `{detail}` from a failed response; a body that is not JSON becomes its status text. */
  static async fromResponse(response: Response): Promise<ApiError> {
    let detail: unknown = null;
    const text = await response.text().catch(() => "");
    if (text) {
      try {
        const body: unknown = JSON.parse(text);
        detail =
          typeof body === "object" && body !== null && "detail" in body
            ? (body as { detail: unknown }).detail
            : body;
      } catch {
        detail = null;
      }
    }
    const retryHeader = response.headers.get("Retry-After");
    const retryAfter = retryHeader !== null && /^\d+$/.test(retryHeader) ? Number(retryHeader) : null;
    return new ApiError(response.status, detail, retryAfter);
  }
}

/** The message to show for any error a query or mutation produced. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.retryAfter !== null && (error.status === 429 || error.status === 503)) {
      return `${error.message} (try again in ${error.retryAfter} s)`;
    }
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}

/** The field problems of an error, empty for anything but a 422 with details. */
export function problemsOfError(error: unknown): FieldProblem[] {
  return error instanceof ApiError ? error.problems : [];
}

/** The message for one field, if the error names it. */
export function fieldErrorOf(error: unknown, field: string): string | undefined {
  return error instanceof ApiError ? error.fieldError(field) : undefined;
}
