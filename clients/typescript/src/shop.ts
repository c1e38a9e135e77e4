// A shop's frontend module, type-checked against the types generated from shoprec's
// /openapi.json (src/shoprec.d.ts, built by `npm run generate`, never committed). If the
// document loses an operation, a field or a type, `tsc --noEmit` fails here.
import createClient from "openapi-fetch";

import type { components, paths } from "./shoprec";

type EventIn = components["schemas"]["EventIn"];
type Recommendations = components["schemas"]["Recommendations"];
type Problem = components["schemas"]["ProblemDetails"];

export function shoprec(baseUrl: string, apiKey: string) {
  return createClient<paths>({ baseUrl, headers: { "X-API-Key": apiKey } });
}

/** What a product page sends: a view, then the cart and the purchase, in one batch. */
export async function recordVisit(
  api: ReturnType<typeof shoprec>,
  userId: string,
  itemId: string,
): Promise<{ accepted: number; duplicates: number }> {
  const batch: EventIn[] = [
    { user_id: userId, item_id: itemId, type: "view" },
    { user_id: userId, item_id: itemId, type: "add_to_cart" },
    {
      event_id: `${userId}-${itemId}-purchase`,
      user_id: userId,
      item_id: itemId,
      type: "purchase",
      value: 2,
      timestamp: new Date().toISOString(),
    },
  ];
  const { data, error, response } = await api.POST("/events", { body: batch });
  if (error) throw problem(response.status, error);
  return { accepted: data.accepted, duplicates: data.duplicates };
}

/** The "recommended for you" strip: item ids and why each is there. */
export async function recommendedFor(
  api: ReturnType<typeof shoprec>,
  userId: string,
  category?: string,
): Promise<{ itemId: string; because: string | null }[]> {
  const { data, error, response } = await api.GET("/users/{user_id}/recommendations", {
    params: { path: { user_id: userId }, query: { limit: 8, category, exclude_seen: true } },
  });
  if (error) throw problem(response.status, error);
  const answer: Recommendations = data;
  return answer.items.map((item) => ({ itemId: item.item_id, because: item.reason?.because ?? null }));
}

/** A catalog update from the shop's back office. */
export async function publishItem(api: ReturnType<typeof shoprec>, itemId: string, price: number) {
  const { data, error, response } = await api.PUT("/items/{item_id}", {
    params: { path: { item_id: itemId } },
    body: { title: "Trail shoe", categories: ["running"], price, available: true },
  });
  if (error) throw problem(response.status, error);
  return data.updated_at;
}

function problem(status: number, body: Problem): Error {
  const fields = (body.errors ?? []).map((e) => e.field).join(", ");
  return new Error(`${status} ${body.title}: ${body.detail}${fields ? ` (${fields})` : ""}`);
}

// The contract is strict where a shop's data would otherwise be corrupted: each line below must
// NOT compile (`@ts-expect-error` fails the check if the types ever let it through).
export function refusedByTheTypes(api: ReturnType<typeof shoprec>) {
  // @ts-expect-error a boolean is not a price
  api.PUT("/items/{item_id}", { params: { path: { item_id: "sku-1" } }, body: { price: false } });
  // @ts-expect-error an event needs a known type
  const wrongType: EventIn = { user_id: "u", item_id: "i", type: "click" };
  // @ts-expect-error an event needs an item (its shopper is a user_id or a session_id, exactly one:
  // the server answers 422 otherwise, which the schema cannot say)
  const noItem: EventIn = { user_id: "u", type: "view" };
  // @ts-expect-error no such operation
  api.PATCH("/items/{item_id}", { params: { path: { item_id: "sku-1" } } });
  return [wrongType, noItem];
}
