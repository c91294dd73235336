// Small DOM helpers shared by the views: no framework, elements made by hand.
import type { GatewayClient, MethodName, MethodParamsInput, MethodResult } from "@openclaw/protocol";

/** A typed request through the page's one client. */
export type Call = <M extends Exclude<MethodName, "connect">>(
  method: M,
  params?: MethodParamsInput<M>,
) => Promise<MethodResult<M>>;

/** What every view gets from the page: the client, typed calls, and whether the token is the admin's. */
export interface ViewContext {
  readonly client: GatewayClient;
  readonly call: Call;
  readonly admin: boolean;
}

/** Makes an element: `h("td", { class: "x" }, "text", child)`; `on…` attributes become listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | ((event: Event) => void)> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else el.setAttribute(name, value);
  }
  el.append(...children);
  return el;
}

/** A time of day, or "–". */
export const time = (ms: number | null | undefined): string =>
  ms == null ? "–" : new Date(ms).toLocaleTimeString();

/** A time of day that is never broken over two lines, for table cells. */
export const timeCell = (ms: number | null | undefined): HTMLElement =>
  h("span", { class: "nowrap" }, time(ms));

/** "1 node", "2 nodes". */
export const plural = (count: number, one: string, many = `${one}s`): string =>
  `${count} ${count === 1 ? one : many}`;

/** A coloured state label. */
export const badge = (state: string): HTMLElement => h("span", { class: `badge ${state}` }, state);

/**
 * A table that becomes a list of stacked cards on narrow screens: each cell carries its column's
 * name (`data-label`), which the narrow layout shows before the value.
 */
export function table(headers: string[], rows: Array<Array<Node | string>>, empty: string): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {}, x)))),
      h(
        "tbody",
        {},
        ...rows.map((row) =>
          h(
            "tr",
            {},
            ...row.map((cell, i) => {
              const label = headers[i] ?? "";
              const td = h("td", label === "" ? { class: "cell-actions" } : { "data-label": label }, cell);
              return td;
            }),
          ),
        ),
      ),
    ),
  );
}

/** A titled card whose body is re-rendered by its owner. */
export function card(id: string, title: string): { root: HTMLElement; body: HTMLElement; note: HTMLElement } {
  const body = h("div", { class: "body" });
  const note = h("span", { class: "note" });
  return { root: h("section", { id, class: "card" }, h("h2", {}, title, note), body), body, note };
}

/**
 * A random id for idempotency keys. `crypto.randomUUID` exists only in secure contexts (https,
 * localhost); a gateway reached over plain http on a LAN address is not one, `getRandomValues` is.
 */
export function randomKey(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
