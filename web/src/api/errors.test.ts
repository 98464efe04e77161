import { describe, expect, it } from "vitest";

import { ApiError, errorMessage, fieldPath } from "./errors";

describe("fieldPath", () => {
  it("drops the location and joins the rest", () => {
    expect(fieldPath(["body", "delivery_address", "street"])).toBe("delivery_address.street");
    expect(fieldPath(["body", "items", 0, "quantity"])).toBe("items.0.quantity");
    expect(fieldPath(["query", "page"])).toBe("page");
    expect(fieldPath("nonsense")).toBe("");
  });
});

describe("ApiError.fromResponse", () => {
  it("maps a 422 list to field problems", async () => {
    const response = new Response(
      JSON.stringify({
        detail: [
          { loc: ["body", "national_id"], msg: "Value error, CPF check digits do not match", type: "value_error" },
          { loc: ["body", "phone"], msg: "phone must be E.164", type: "value_error" },
        ],
      }),
      { status: 422 },
    );
    const error = await ApiError.fromResponse(response);
    expect(error.status).toBe(422);
    expect(error.fieldError("national_id")).toBe("CPF check digits do not match");
    expect(error.fieldError("phone")).toBe("phone must be E.164");
    expect(error.fieldError("email")).toBeUndefined();
    expect(error.message).toBe("Some fields need correcting.");
  });

  it("keeps a string detail as the message", async () => {
    const error = await ApiError.fromResponse(
      new Response(JSON.stringify({ detail: "order is CONFIRMED and can no longer be cancelled" }), { status: 409 }),
    );
    expect(error.status).toBe(409);
    expect(error.message).toBe("order is CONFIRMED and can no longer be cancelled");
    expect(error.problems).toEqual([]);
  });

  it("reads Retry-After and says when to try again", async () => {
    const error = await ApiError.fromResponse(
      new Response(JSON.stringify({ detail: "too many login attempts" }), {
        status: 429,
        headers: { "Retry-After": "30" },
      }),
    );
    expect(error.retryAfter).toBe(30);
    expect(errorMessage(error)).toBe("too many login attempts (try again in 30 s)");
  });

  it("survives a body that is not JSON", async () => {
    const error = await ApiError.fromResponse(new Response("<html>bad gateway</html>", { status: 503 }));
    expect(error.status).toBe(503);
    expect(error.message).toMatch(/unavailable/);
  });
});
