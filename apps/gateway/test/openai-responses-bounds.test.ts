import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN, type Harness, startGateway, TOKEN } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const client = (apiKey = TOKEN) =>
  new OpenAI({ baseURL: `${h!.http}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });

/** `words` words of 4 characters and a space: the echo agent answers them back. */
const text = (words: number, tag: string) => `${tag.padEnd(4, "x").slice(0, 4)} `.repeat(words);

/** What the tests read of a `/v1/responses` answer: a response, or an OpenAI error. */
interface Answer {
  error?: { type: string; code: string | null; param: string | null };
  output: Array<{ content: Array<{ text: string }> }>;
  usage: { input_tokens: number };
}

/** A raw `POST /v1/responses` (bodies the client would not build) with its status and JSON body. */
async function post(body: unknown, token = TOKEN): Promise<{ status: number; json: Answer }> {
  const res = await fetch(`${h!.http}/v1/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Answer };
}

async function notFound(id: string, apiKey = TOKEN): Promise<unknown> {
  return client(apiKey)
    .responses.retrieve(id)
    .then(
      () => "found",
      (error: unknown) => error,
    );
}

describe("stored /v1/responses are bounded in bytes", () => {
  it("keeps the stored bytes under openai.responses.maxStoredBytes, evicting the oldest first", async () => {
    // Each stored response holds its 100 KB input, its 100 KB answer and the answer again in the
    // conversation: about 300 KB. Three fit under 1 MB.
    h = await startGateway({
      config: { openai: { responses: { maxStoredBytes: 1_000_000, maxStoredBytesPerPrincipal: 1_000_000 } } },
    });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await client().responses.create({ model: "echo", input: text(20_000, `r${i}`) });
      expect(response.output_text.length).toBe(100_000);
      ids.push(response.id);
    }
    for (const id of ids.slice(0, 3)) {
      const missing = await notFound(id);
      expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
      expect(missing).toMatchObject({ code: "response_not_found", param: "response_id" });
    }
    for (const id of ids.slice(3))
      await expect(client().responses.retrieve(id)).resolves.toMatchObject({ id });
    // Chaining an evicted response is the same typed 404.
    const chained = await post({ model: "echo", input: "again", previous_response_id: ids[0] });
    expect(chained.status).toBe(404);
    expect(chained.json.error).toMatchObject({ code: "previous_response_not_found" });
  });

  it("bounds each principal's stored bytes on its own (maxStoredBytesPerPrincipal)", async () => {
    h = await startGateway({
      config: { openai: { responses: { maxStoredBytes: 10_000_000, maxStoredBytesPerPrincipal: 700_000 } } },
    });
    const admin = await client(ADMIN).responses.create({ model: "echo", input: text(20_000, "adm") });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++)
      ids.push((await client().responses.create({ model: "echo", input: text(20_000, `op${i}`) })).id);
    // The operator's oldest two went; the admin's earlier response stays.
    expect(await notFound(ids[0]!)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await notFound(ids[1]!)).toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client().responses.retrieve(ids[3]!)).resolves.toMatchObject({ id: ids[3] });
    await expect(client(ADMIN).responses.retrieve(admin.id)).resolves.toMatchObject({ id: admin.id });
  });

  it("does not store a response larger than the bound, and says so with store: false", async () => {
    h = await startGateway({
      config: { openai: { responses: { maxStoredBytes: 200_000, maxStoredBytesPerPrincipal: 200_000 } } },
    });
    const small = await client().responses.create({ model: "echo", input: "hello" });
    const big = await client().responses.create({ model: "echo", input: text(20_000, "big") });
    expect((big as unknown as { store: boolean }).store).toBe(false);
    expect(await notFound(big.id)).toBeInstanceOf(OpenAI.NotFoundError);
    // What was stored before stays.
    await expect(client().responses.retrieve(small.id)).resolves.toMatchObject({ id: small.id, store: true });
  });
});

describe("stored /v1/responses belong to their principal", () => {
  it("another token gets the 404 of an unknown id, for GET, previous_response_id and item_reference", async () => {
    h = await startGateway();
    const mine = await client().responses.create({ model: "echo", input: "secret words" });
    const itemId = mine.output[0]!.id!;
    await expect(client().responses.retrieve(mine.id)).resolves.toMatchObject({ id: mine.id });

    const theirs = await notFound(mine.id, ADMIN);
    const unknown = await notFound("resp_0123456789abcdef0123456789abcdef", ADMIN);
    expect(theirs).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((theirs as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual({
      ...(unknown as InstanceType<typeof OpenAI.NotFoundError>).error,
      message: expect.any(String),
    });

    const chained = await post({ model: "echo", input: "next", previous_response_id: mine.id }, ADMIN);
    expect(chained.status).toBe(404);
    expect(chained.json.error).toMatchObject({ code: "previous_response_not_found" });
    const referenced = await post(
      {
        model: "echo",
        input: [
          { type: "item_reference", id: itemId },
          { role: "user", content: "x" },
        ],
      },
      ADMIN,
    );
    expect(referenced.status).toBe(404);
    expect(referenced.json.error).toMatchObject({ code: "item_not_found", param: "input[0].id" });

    // Its owner still chains and references it.
    const own = await post({
      model: "echo",
      input: [
        { type: "item_reference", id: itemId },
        { role: "user", content: "more" },
      ],
      previous_response_id: mine.id,
    });
    expect(own.status).toBe(200);
    expect(own.json.output[0]!.content[0]!.text).toBe("more");
  });
});

describe("item_reference expansion is bounded", () => {
  it("answers many references to a big stored output with a typed 400, never a 500", async () => {
    h = await startGateway({ config: { gateway: { maxBodyBytes: 2_000_000 } } });
    // About 1 MiB of output, stored.
    const big = await client().responses.create({ model: "echo", input: text(210_000, "big") });
    expect(big.output_text.length).toBe(1_050_000);
    const itemId = big.output[0]!.id!;
    for (const refs of [500, 1000]) {
      const input = [
        ...Array.from({ length: refs }, () => ({ type: "item_reference", id: itemId })),
        { role: "user", content: "short" },
      ];
      const answer = await post({ model: "echo", input });
      expect(answer.status, `${refs} references`).toBe(400);
      expect(answer.json.error).toMatchObject({
        type: "invalid_request_error",
        code: "input_too_large",
        param: "input",
      });
    }
    // A few references stay within the bound and are counted as before.
    const few = await post({
      model: "echo",
      input: [
        { type: "item_reference", id: itemId },
        { type: "item_reference", id: itemId },
        { role: "user", content: "three more words" },
      ],
    });
    expect(few.status).toBe(200);
    expect(few.json.output[0]!.content[0]!.text).toBe("three more words");
    expect(few.json.usage.input_tokens).toBe(2 * 210_000 + 3);
  });

  it("bounds a chain through previous_response_id by the same limit (openai.responses.maxExpandedInputChars)", async () => {
    h = await startGateway({ config: { openai: { responses: { maxExpandedInputChars: 250_000 } } } });
    const first = await client().responses.create({ model: "echo", input: text(20_000, "one") });
    // 100 KB input + 100 KB answer + 100 KB new input: past 250,000 characters.
    const next = await post({ model: "echo", input: text(20_000, "two"), previous_response_id: first.id });
    expect(next.status).toBe(400);
    expect(next.json.error).toMatchObject({ code: "input_too_large", param: "input" });
    const fits = await post({ model: "echo", input: "short", previous_response_id: first.id });
    expect(fits.status).toBe(200);
  });
});
